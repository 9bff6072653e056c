// The backend of a multi-node job on rank 0: node 0 is this process's own backend (threads or
// worker processes, Local), nodes 1..N-1 are the other ranks, each running the same Local
// backend behind detail/node_agent.hpp and reached through a ClusterTransport. To the
// coordinator it is one backend of N * process_count_per_node workers.
//
// Dynamic pull: an attempt goes to the node with the fewest attempts outstanding, first only
// to nodes with an idle worker; once every node is busy, each may hold a queue of at least 16
// more, more for short mini-batches (so a node never waits a round trip for its next one). A node
// that falls idle while another holds queued attempts takes them over (withdrawn unstarted), so a
// slow node ends up with fewer mini-batches and none waits behind a running one at the end. A retry
// goes wherever there is room, often another node. A node whose init failed 3 *
// process_count_per_node times gets no more work; its queued attempts go elsewhere.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/scorer.hpp"
#include "parallel_run/detail/backend.hpp"
#include "parallel_run/detail/cluster.hpp"
#include "parallel_run/detail/cluster_protocol.hpp"
#include "parallel_run/detail/resource_monitor.hpp"
#include "parallel_run/detail/run_time_average.hpp"
#include "parallel_run/detail/scorer_lifecycle.hpp"
#include "parallel_run/detail/task.hpp"
#include "parallel_run/detail/worker_protocol.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// The job on the cluster: which transport, and the job's number among the program's
/// multi-node jobs (every rank counts them alike).
struct ClusterJob {
  ClusterTransport* cluster = nullptr;
  std::uint64_t number = 0;
};

/// A worker of a multi-node job as the coordinator names it: node << 32 | its index there.
inline std::size_t cluster_worker(std::size_t node, std::size_t worker) {
  return (node << 32) | (worker & 0xffffffffu);
}

template <template <class> class Local>
struct ClusterOf {
  template <class Task>
  class Nodes {
   public:
    /// A crash of a worker of node 0 is this process's: its journal needs the start.
    static constexpr bool calls_before_run = requires { Local<Task>::calls_before_run; };

    Nodes(boost::asio::io_context& io, std::shared_ptr<const Config> config,
          ScorerFactory<materialized_t<Task>> factory, BackendEvents events,
          std::shared_ptr<MetricSink> metrics, std::size_t low_water)
        : io_(io),
          config_(config),
          events_(std::move(events)),
          local_(io, config, std::move(factory), local_events(), std::move(metrics), low_water) {}

    ~Nodes() { stop(false); }
    Nodes(const Nodes&) = delete;
    Nodes& operator=(const Nodes&) = delete;

    /// Before start(): the cluster and the job's number (and the local backend's setup).
    void set_cluster(ClusterJob job) {
      job_ = job;
      names_ = detail::node_names(job.cluster->hosts());
      nodes_.assign(job.cluster->size(), Node{});
    }
    Local<Task>& local() noexcept { return local_; }
    std::vector<std::string> node_names() const { return names_; }

    void start() {
      per_node_ = static_cast<std::size_t>(config_->process_count_per_node);
      for (std::size_t k = 1; k < nodes_.size(); ++k)
        send(k, cluster_message(ClusterMessage::begin, job_.number, [&](WireWriter& w) {
               encode(w, *config_);
               w.put<std::uint64_t>(k);
             }));
      receiver_ = std::thread([this] { receive_loop(); });
      local_.start();
    }

    void submit(Attempt<Task> a, bool front = false) {
      if (front)
        pending_.push_front(std::move(a));
      else
        pending_.push_back(std::move(a));
      dispatch();
    }

    /// The attempts no node has started that are back here: the ones never sent, node 0's
    /// queue, and what other nodes handed back (after no_more_work() they all do).
    std::vector<Attempt<Task>> take_queued() {
      std::vector<Attempt<Task>> out(std::make_move_iterator(pending_.begin()),
                                     std::make_move_iterator(pending_.end()));
      pending_.clear();
      for (auto& a : local_.take_queued()) {
        forget(a.id);
        out.push_back(std::move(a));
      }
      return out;
    }

    void retire(std::size_t worker) {
      const std::size_t node = worker >> 32;
      const std::size_t index = worker & 0xffffffffu;
      if (node == 0)
        local_.retire(index);
      else if (node < nodes_.size())
        send(node, cluster_message(ClusterMessage::retire, job_.number,
                                   [&](WireWriter& w) { w.put<std::uint64_t>(index); }));
    }

    void top_up() {
      if (nodes_[0].open) local_.top_up();
      for (std::size_t k = 1; k < nodes_.size(); ++k)
        if (nodes_[k].open) send(k, cluster_message(ClusterMessage::top_up, job_.number));
    }

    void no_more_work() {
      no_more_work_ = true;
      local_.no_more_work();
      for (std::size_t k = 1; k < nodes_.size(); ++k)
        send(k, cluster_message(ClusterMessage::no_more_work, job_.number));
    }

    /// Ends every node's workers. Delivering events, it waits (running the io_context) until
    /// each node has stopped and said so, its last events before that.
    void stop(bool deliver_events = true) {
      if (stopped_) {
        // A handler threw while an earlier stop() waited: leave no thread behind.
        abandon_ = true;
        if (receiver_.joinable()) receiver_.join();
        return;
      }
      stopped_ = true;
      if (nodes_.empty()) return;  // never started
      for (std::size_t k = 1; k < nodes_.size(); ++k)
        send(k, cluster_message(ClusterMessage::stop, job_.number,
                                [&](WireWriter& w) { w.put(deliver_events); }));
      local_.stop(deliver_events);
      if (deliver_events && receiver_.joinable()) {
        auto guard = boost::asio::make_work_guard(io_);
        // A handler may stop the io_context (the coordinator does when it is done): restart.
        while (nodes_stopped_ + 1 < nodes_.size()) {
          io_.restart();
          io_.run_one();
        }
      }
      if (receiver_.joinable()) {
        abandon_ = !deliver_events;
        receiver_.join();
      }
      if (deliver_events) {
        io_.restart();
        io_.poll();
      }
    }

    std::size_t stuck_workers() const { return local_.stuck_workers() + remote_stuck_; }
    /// Whether any node still takes work (the others stopped after init failures).
    bool any_node_open() const {
      return std::any_of(nodes_.begin(), nodes_.end(), [](const Node& n) { return n.open; });
    }
    std::size_t detached_workers() const { return local_.detached_workers() + remote_detached_; }
    /// Mini-batches the coordinator should keep queued or running: every open node's limit.
    std::size_t wanted_in_flight() const {
      std::size_t sum = 0;
      for (std::size_t k = 0; k < nodes_.size(); ++k)
        if (nodes_[k].open) sum += limit(k);
      return sum;
    }

   private:
    struct Node {
      bool open = true;
      bool withdrawing = false;  // asked to hand back its queued attempts
      std::size_t queued = 0;    // sent, not started
      std::size_t running = 0;
      std::size_t init_failures = 0;
      std::size_t outstanding() const { return queued + running; }
    };
    struct Sent {
      std::size_t node = 0;
      bool started = false;
      Attempt<Task> attempt;
    };

    BackendEvents local_events() {
      BackendEvents e;
      e.result = [this](std::uint64_t id, BatchOutcome o) {
        run_time_.add(o.times);
        finished(id);
        events_.result(id, std::move(o));
      };
      e.attempt_failed = [this](std::uint64_t id, std::string reason, FailureKind kind,
                                AttemptTimes times) {
        finished(id);
        events_.attempt_failed(id, std::move(reason), kind, times);
      };
      e.init_failed = [this](std::size_t worker, std::string reason, bool misconfigured) {
        init_failed(0, worker, std::move(reason), misconfigured, false);
      };
      e.warning = [this](std::string message) { events_.warning(std::move(message)); };
      e.handed_back = [this] {
        for (auto& a : local_.take_queued()) {
          forget(a.id);
          pending_.push_front(std::move(a));
        }
        if (!no_more_work_) dispatch();
        events_.handed_back();
      };
      e.attempt_started = [this](std::uint64_t id, AttemptTimes times) {
        mark_started(id);
        events_.attempt_started(id, times);
      };
      e.before_run = [this](std::size_t mini_batch, std::int64_t attempt, std::size_t worker) {
        if (events_.before_run) events_.before_run(mini_batch, attempt, worker);
      };
      e.after_run = [this](std::size_t worker) {
        if (events_.after_run) events_.after_run(worker);
      };
      return e;
    }

    void send(std::size_t node, std::string bytes) { job_.cluster->send(node, std::move(bytes)); }

    // Attempts a node may hold once every node is busy: its workers' and a queue behind them.
    // The queue is at least `node_queue_min` deep, and deeper when mini-batches are short: as
    // many as run in `node_queue_work`, up to `max_node_queue_per_worker` a worker, so that a
    // node does not wait for the round trip through rank 0 (with a queue of 16 and the
    // small-files job's short mini-batches, the workers of `mpirun -np 2` sat partly idle:
    // docs/benchmarks.md, "2026-12-01, second session"). Node 0's is what its own backend
    // asks for. At the end, a node that
    // falls idle takes over what waits unstarted elsewhere (rebalance), so a deep queue does
    // not hold up a job.
    static constexpr std::size_t node_queue_min = 16;
    static constexpr std::chrono::nanoseconds node_queue_work{std::chrono::milliseconds(8)};
    static constexpr std::size_t max_node_queue_per_worker = 64;
    std::size_t limit(std::size_t node) const {
      const std::size_t queue =
          std::max({per_node_, node_queue_min,
                    per_node_ * run_time_.count_in(node_queue_work, 1, max_node_queue_per_worker)});
      if constexpr (requires(const Local<Task>& l) { l.wanted_in_flight(); })
        if (node == 0) return std::max(local_.wanted_in_flight(), per_node_ + queue);
      return per_node_ + queue;
    }

    // Pick the open node with the fewest attempts outstanding, below its workers alone
    // (`busy` false: a node with an idle worker) or below its limit.
    std::size_t pick(bool busy) const {
      std::size_t best = nodes_.size();
      for (std::size_t k = 0; k < nodes_.size(); ++k) {
        const Node& n = nodes_[k];
        if (!n.open || n.outstanding() >= (busy ? limit(k) : per_node_)) continue;
        if (best == nodes_.size() || n.outstanding() < nodes_[best].outstanding()) best = k;
      }
      return best;
    }

    void dispatch() {
      if (stopped_ || no_more_work_) return;
      while (!pending_.empty()) {
        std::size_t k = pick(false);
        if (k == nodes_.size()) k = pick(true);
        if (k == nodes_.size()) return;
        Attempt<Task> a = std::move(pending_.front());
        pending_.pop_front();
        ++nodes_[k].queued;
        if (k == 0) {
          sent_.emplace(a.id, Sent{0, false, a});
          local_.submit(std::move(a));
          continue;
        }
        send(k, cluster_message(ClusterMessage::task, job_.number, [&](WireWriter& w) {
               w.put(a.id);
               w.put(a.number);
               encode_task(w, *a.batch);
             }));
        sent_.emplace(a.id, Sent{k, false, std::move(a)});
      }
    }

    // A node's thread worker is done with its attempt: the pair of the before_run its start
    // message made (best effort too).
    void ran_on_node(std::size_t node, std::uint64_t worker) {
      if (events_.after_run && config_->backend == parallel_run::Backend::thread)
        events_.after_run(cluster_worker(node, worker));
    }

    void mark_started(std::uint64_t id) {
      auto it = sent_.find(id);
      if (it == sent_.end() || it->second.started) return;
      it->second.started = true;
      Node& n = nodes_[it->second.node];
      --n.queued;
      ++n.running;
    }

    // An attempt's node is done with it (answered, or handed it back unstarted).
    std::size_t forget(std::uint64_t id) {
      auto it = sent_.find(id);
      if (it == sent_.end()) return nodes_.size();
      const std::size_t k = it->second.node;
      Node& n = nodes_[k];
      if (it->second.started)
        --n.running;
      else
        --n.queued;
      sent_.erase(it);
      return k;
    }

    void finished(std::uint64_t id) {
      const std::size_t k = forget(id);
      dispatch();
      if (k < nodes_.size()) rebalance(k);
    }

    // Node k has an idle worker and nothing is waiting here: take over attempts queued at the
    // busiest other node, which are not started yet.
    void rebalance(std::size_t k) {
      if (!pending_.empty() || no_more_work_ || stopped_ || !nodes_[k].open ||
          nodes_[k].outstanding() >= per_node_)
        return;
      std::size_t from = nodes_.size();
      for (std::size_t j = 0; j < nodes_.size(); ++j)
        if (j != k && nodes_[j].queued > 0 && !nodes_[j].withdrawing &&
            (from == nodes_.size() || nodes_[j].queued > nodes_[from].queued))
          from = j;
      if (from == nodes_.size()) return;
      withdraw_from(from);
    }

    void withdraw_from(std::size_t node) {
      if (node == 0) {
        for (auto& a : local_.take_queued()) {
          forget(a.id);
          pending_.push_back(std::move(a));
        }
        dispatch();
        return;
      }
      nodes_[node].withdrawing = true;
      send(node, cluster_message(ClusterMessage::withdraw, job_.number));
    }

    void init_failed(std::size_t node, std::size_t worker, std::string reason, bool misconfigured,
                     bool node_down) {
      Node& n = nodes_[node];
      ++n.init_failures;
      if (n.open && (node_down || n.init_failures >= 3 * per_node_)) {
        n.open = false;
        if (nodes_.size() > 1)
          events_.warning(
              fmt::format("node {} ({}) takes no more work: {}", node, names_[node],
                          node_down ? reason
                                    : fmt::format("init failed {} times (the limit per node is 3 * "
                                                  "process_count_per_node = {})",
                                                  n.init_failures, 3 * per_node_)));
        withdraw_from(node);
      }
      events_.init_failed(cluster_worker(node, worker), std::move(reason), misconfigured);
    }

    // The transport's messages, handled on the io_context's thread: what arrived together is
    // handled in one turn.
    void receive_loop() {
      std::size_t stopped = 0;
      std::vector<ClusterTransport::Message> batch;
      while (stopped + 1 < nodes_.size()) {
        batch.clear();
        job_.cluster->receive_all(std::chrono::milliseconds(20), batch);
        if (batch.empty()) {
          if (abandon_.load()) return;
          continue;
        }
        std::erase_if(batch, [&](const ClusterTransport::Message& m) {
          try {
            WireReader r(m.bytes);
            const auto type = r.get_enum(ClusterMessage::last);
            if (r.get<std::uint64_t>() != job_.number) return true;  // an earlier job's
            if (type == ClusterMessage::stopped) ++stopped;
            return false;
          } catch (const std::exception& e) {
            job_.cluster->abort(
                70, fmt::format("a corrupt message from rank {}: {}", m.from, e.what()));
          }
          return true;  // not reached: abort() ends the process
        });
        // A corrupt message throws there: the job ends with the error, as for a worker's.
        boost::asio::post(io_, [this, messages = std::move(batch)] {
          for (const auto& m : messages)
            handle(m.from, m.bytes);
        });
        batch = {};
      }
    }

    void handle(std::size_t from, const std::string& bytes) {
      WireReader r(bytes);
      const auto type = r.get_enum(ClusterMessage::last);
      r.get<std::uint64_t>();
      if (from == 0 || from >= nodes_.size()) return;
      switch (type) {
        case ClusterMessage::started: {
          const auto id = r.get<std::uint64_t>();
          AttemptTimes t = decode_times(r);
          t.node = from;
          auto it = sent_.find(id);
          if (it != sent_.end() && events_.before_run &&
              config_->backend == parallel_run::Backend::thread)
            // A node's thread worker that crashes takes the job down: the journal must know
            // what it ran (best effort: the message may not arrive first).
            events_.before_run(it->second.attempt.batch->mini_batch_index(),
                               it->second.attempt.number, cluster_worker(from, t.worker));
          mark_started(id);
          events_.attempt_started(id, t);
          break;
        }
        case ClusterMessage::result: {
          const auto id = r.get<std::uint64_t>();
          BatchOutcome o = decode_outcome(r);
          o.times.node = from;
          if (sent_.count(id) == 0) return;
          ran_on_node(from, o.times.worker);
          run_time_.add(o.times);
          finished(id);
          events_.result(id, std::move(o));
          break;
        }
        case ClusterMessage::failed: {
          const auto id = r.get<std::uint64_t>();
          std::string reason = r.get_string();
          const auto kind = r.get_enum(FailureKind::worker_lost);
          AttemptTimes t = decode_times(r);
          t.node = from;
          if (sent_.count(id) == 0) return;
          ran_on_node(from, t.worker);
          finished(id);
          // The reason as one node gives it (failed_items.csv is a one-node run's); the node is
          // in processed_mini-batches.csv.
          events_.attempt_failed(id, std::move(reason), kind, t);
          break;
        }
        case ClusterMessage::init_failed: {
          const auto worker = static_cast<std::size_t>(r.get<std::uint64_t>());
          std::string reason = r.get_string();
          const bool misconfigured = r.get<bool>();
          const bool node_down = r.get<bool>();
          init_failed(from, worker, std::move(reason), misconfigured, node_down);
          break;
        }
        case ClusterMessage::warning:
          events_.warning(fmt::format("node {} ({}): {}", from, names_[from], r.get_view()));
          break;
        case ClusterMessage::handed_back: {
          nodes_[from].withdrawing = false;
          auto n = r.get_count(sizeof(std::uint64_t), "attempts");
          std::vector<Attempt<Task>> back;
          for (; n > 0; --n) {
            auto it = sent_.find(r.get<std::uint64_t>());
            if (it == sent_.end()) continue;
            Attempt<Task> a = std::move(it->second.attempt);
            forget(a.id);
            back.push_back(std::move(a));
          }
          for (auto it = back.rbegin(); it != back.rend(); ++it)
            pending_.push_front(std::move(*it));
          if (!no_more_work_) dispatch();
          if (!back.empty()) events_.handed_back();
          break;
        }
        case ClusterMessage::stopped:
          remote_stuck_ += static_cast<std::size_t>(r.get<std::uint64_t>());
          remote_detached_ += static_cast<std::size_t>(r.get<std::uint64_t>());
          ++nodes_stopped_;
          break;
        default:
          break;
      }
    }

    boost::asio::io_context& io_;
    std::shared_ptr<const Config> config_;
    BackendEvents events_;
    Local<Task> local_;
    ClusterJob job_;
    std::vector<std::string> names_;
    std::vector<Node> nodes_;
    std::size_t per_node_ = 1;
    RunTimeAverage run_time_;  // every node's attempts: how deep the nodes' queues are
    std::deque<Attempt<Task>> pending_;
    std::unordered_map<std::uint64_t, Sent> sent_;
    std::thread receiver_;
    std::atomic<bool> abandon_{false};
    std::size_t nodes_stopped_ = 0;
    std::size_t remote_stuck_ = 0;
    std::size_t remote_detached_ = 0;
    bool no_more_work_ = false;
    bool stopped_ = false;
  };
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
