// Which node of a job this process serves: its index among the job's nodes and the name its
// logs go under (logs/worker/<name>/, logs/performance/<name>/, logs/user/<name>/). One node,
// index 0, named by the host name, unless a cluster launcher (<parallel_run/mpi.hpp>) says
// otherwise; worker processes a node starts inherit the name through the environment.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/detail/clock.hpp"

#include <cstddef>
#include <cstdlib>
#include <string>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// The environment variable that passes a node's name on to the worker processes it starts.
inline constexpr const char* node_name_env = "PARALLEL_RUN_NODE_NAME";

struct NodeIdentity {
  std::size_t index = 0;  // 0 is the node that coordinates
  std::size_t count = 1;
  std::string name;  // the host name, or host-node<index> when nodes share a host
};

namespace node_detail {
inline NodeIdentity& storage() {
  static NodeIdentity node = [] {
    NodeIdentity n;
    const char* inherited = std::getenv(node_name_env);
    n.name = inherited && *inherited ? std::string(inherited) : host_name();
    return n;
  }();
  return node;
}
}  // namespace node_detail

/// This process's node. Set once, before any job's workers start, by set_this_node().
inline const NodeIdentity& this_node() {
  return node_detail::storage();
}

/// The name this node's logs go under.
inline const std::string& node_name() {
  return this_node().name;
}

/// Called by a cluster launcher before the first job: the worker processes this node starts
/// later inherit the name (setenv: no worker thread of ours runs yet).
inline void set_this_node(NodeIdentity node) {
  ::setenv(node_name_env, node.name.c_str(), 1);
  node_detail::storage() = std::move(node);
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
