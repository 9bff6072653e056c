// The seam to many nodes: a ClusterTransport moves messages between the ranks of a job
// started by a launcher (mpirun, srun). The core never needs MPI: <parallel_run/mpi.hpp>
// registers a launcher that makes an MPI transport, and a job asks for it with job_cluster().
// Rank 0 coordinates (detail/cluster_backend.hpp); the other ranks serve as nodes
// (detail/node_agent.hpp). The messages they exchange are in detail/cluster_protocol.hpp.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/detail/node_identity.hpp"
#include "parallel_run/detail/process_spawn.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// Messages between the ranks of one job. Thread-safe; messages from one rank to another
/// arrive in the order they were sent.
class ClusterTransport {
 public:
  struct Message {
    std::size_t from = 0;
    std::string bytes;
  };

  virtual ~ClusterTransport() = default;
  virtual std::size_t rank() const = 0;
  virtual std::size_t size() const = 0;
  /// The host name of every rank, gathered when the transport started.
  virtual const std::vector<std::string>& hosts() const = 0;
  /// Queues `bytes` for rank `to` and returns.
  virtual void send(std::size_t to, std::string bytes) = 0;
  /// The next message that arrived, waiting up to `wait` for one.
  virtual std::optional<Message> receive(std::chrono::milliseconds wait) = 0;
  /// Every message that has arrived, in order, appended to `out`, waiting up to `wait` for
  /// the first: one wake-up for many messages when they come fast.
  virtual void receive_all(std::chrono::milliseconds wait, std::vector<Message>& out) = 0;
  /// Ends every rank of the job at once (a rank that cannot go on alone).
  [[noreturn]] virtual void abort(int status, const std::string& why) = 0;
  /// What launched the job, for messages ("Open MPI 4.1.4", "MPICH").
  virtual std::string launcher() const = 0;
  /// Sends what is queued and leaves the cluster (MPI_Finalize); for a process about to end
  /// without its static destructors (std::_Exit). Nothing may be sent after it.
  virtual void shutdown() = 0;
};

using ClusterLauncher = std::unique_ptr<ClusterTransport> (*)();

/// Set by <parallel_run/mpi.hpp> (a static initializer) when the program links MPI.
inline ClusterLauncher& cluster_launcher() {
  static ClusterLauncher launcher = nullptr;
  return launcher;
}

/// The names the nodes' logs go under: each rank's host name, or host-node<rank> for every
/// rank that shares its host with another (several ranks on one machine).
inline std::vector<std::string> node_names(const std::vector<std::string>& hosts) {
  std::vector<std::string> names = hosts;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    std::size_t same = 0;
    for (const auto& h : hosts)
      same += h == hosts[i] ? 1 : 0;
    if (same > 1) names[i] = hosts[i] + "-node" + std::to_string(i);
  }
  return names;
}

namespace cluster_detail {
inline std::atomic<ClusterTransport*>& started() {
  static std::atomic<ClusterTransport*> cluster{nullptr};
  return cluster;
}
}  // namespace cluster_detail

/// The cluster if a job has started it, else null; never starts one.
inline ClusterTransport* started_cluster() {
  return cluster_detail::started().load();
}

/// The cluster this process's jobs run on, started at the first job that asks, or null: no
/// launcher linked, not started by one, or a worker process (which never joins: its node
/// speaks for it). Lives until the program exits.
inline ClusterTransport* job_cluster() {
  static const std::unique_ptr<ClusterTransport> cluster =
      []() -> std::unique_ptr<ClusterTransport> {
    if (std::getenv(worker_env_name) != nullptr) return nullptr;
    ClusterLauncher launcher = cluster_launcher();
    auto transport = launcher ? launcher() : nullptr;
    if (transport) {
      const auto names = node_names(transport->hosts());
      set_this_node({transport->rank(), transport->size(), names.at(transport->rank())});
      cluster_detail::started() = transport.get();
    }
    return transport;
  }();
  return cluster.get();
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
