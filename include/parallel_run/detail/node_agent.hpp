// A node of a multi-node job (a rank other than 0): it runs rank 0's attempts on its own
// backend (threads or worker processes, Local, with rank 0's settings) and sends back what
// became of each, as the events a backend reports. It cuts nothing, writes no output: its
// workers write their logs under logs/worker/<node>/ (and performance/, user/), the rest is
// rank 0's. It returns the job's result as rank 0 sends it, so every rank exits alike.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/scorer.hpp"
#include "parallel_run/detail/backend.hpp"
#include "parallel_run/detail/cluster.hpp"
#include "parallel_run/detail/cluster_backend.hpp"
#include "parallel_run/detail/cluster_protocol.hpp"
#include "parallel_run/detail/job_files.hpp"
#include "parallel_run/detail/resource_monitor.hpp"
#include "parallel_run/detail/scorer_lifecycle.hpp"
#include "parallel_run/detail/task.hpp"
#include "parallel_run/detail/worker_protocol.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

template <class Task, template <class> class Local>
class NodeAgent {
 public:
  NodeAgent(ClusterJob job, ScorerFactory<materialized_t<Task>> factory,
            std::function<void(Local<Task>&)> setup)
      : job_(job), factory_(std::move(factory)), setup_(std::move(setup)) {}

  /// Serves the job until rank 0 ends it; returns rank 0's result or throws its error.
  JobResult run() {
    // Rank 0 begins the job, or ends it at once (its settings refused, an earlier run reused).
    std::shared_ptr<const Config> config;
    while (!config) {
      auto m = job_.cluster->receive(std::chrono::milliseconds(200));
      if (!m || m->from != 0) continue;
      WireReader r(m->bytes);
      const auto type = r.get_enum(ClusterMessage::last);
      if (r.get<std::uint64_t>() != job_.number) continue;
      if (type == ClusterMessage::end) return decode_job_end(r);
      if (type != ClusterMessage::begin) continue;
      Config c = decode_config(r);
      node_ = static_cast<std::size_t>(r.get<std::uint64_t>());
      config = std::make_shared<const Config>(std::move(c));
    }
    // Past `begin`, rank 0 counts on this node's answers: a failure of the node itself (not
    // of a scorer, which its backend reports) ends the whole job, naming the node, rather
    // than leave rank 0 waiting for it.
    try {
      return serve(std::move(config));
    } catch (const std::exception& e) {
      job_.cluster->abort(70, fmt::format("node {} ({}) failed: {}", node_, node_name(), e.what()));
      throw;  // not reached: abort() ends the process
    }
  }

 private:
  JobResult serve(std::shared_ptr<const Config> config) {
    // logs/performance/<node>/: this node's processes, sampled as rank 0 samples its own.
    ResourceMonitor monitor([this](const std::string& warning) {
      send(cluster_message(ClusterMessage::warning, job_.number,
                           [&](WireWriter& w) { w.put(warning); }));
    });
    JobInfo info;
    info.config = config.get();
    info.host = node_name();
    info.pid = ::getpid();
    info.start = std::chrono::system_clock::now();
    info.log_dir = config->effective_log_dir();
    monitor.job_started(info);
    boost::asio::io_context io;
    auto guard = boost::asio::make_work_guard(io);
    // The node's own metrics.csv: logs/metrics.csv is rank 0's.
    auto metrics =
        std::make_shared<MetricSink>(JobFiles(*config).worker_dir(node_name()) / "metrics.csv");
    // Results are sent on as soon as the queue runs this low: deeper than rank 0's remote
    // queue (cluster_backend.hpp), so that no answer waits for a watchdog's tick.
    Local<Task> backend(io, config, factory_, events(), metrics,
                        4 * static_cast<std::size_t>(config->process_count_per_node) + 16);
    if (setup_) setup_(backend);
    backend_ = &backend;
    std::thread receiver([&] { receive_loop(io); });
    struct Join {
      std::thread& t;
      ~Join() {
        if (t.joinable()) t.join();
      }
    } join{receiver};
    try {
      backend.start();
    } catch (const std::exception& e) {
      // Its workers cannot start here (a log folder it cannot create): the others go on, and
      // what rank 0 sends here meanwhile goes back unstarted.
      start_failed_ = true;
      for (int i = 0; i < config->process_count_per_node; ++i)
        init_failed(static_cast<std::size_t>(i),
                    fmt::format("the node could not start its workers: {}", e.what()), false, true);
    }
    io.run();  // until rank 0 says stop
    backend.stop(deliver_);
    backend_ = nullptr;
    monitor.job_ended(JobResult{});
    send(cluster_message(ClusterMessage::stopped, job_.number, [&](WireWriter& w) {
      w.put<std::uint64_t>(backend.stuck_workers());
      w.put<std::uint64_t>(backend.detached_workers());
    }));
    io.restart();
    io.run();  // until rank 0 ends the job
    WireReader r(end_);
    r.get<ClusterMessage>();
    r.get<std::uint64_t>();
    return decode_job_end(r);
  }

  void send(std::string bytes) { job_.cluster->send(0, std::move(bytes)); }

  void init_failed(std::size_t worker, const std::string& reason, bool misconfigured,
                   bool node_down) {
    send(cluster_message(ClusterMessage::init_failed, job_.number, [&](WireWriter& w) {
      w.put<std::uint64_t>(worker);
      w.put(reason);
      w.put(misconfigured);
      w.put(node_down);
    }));
  }

  void hand_back() {
    if (backend_ == nullptr) return;
    auto back = backend_->take_queued();
    send(cluster_message(ClusterMessage::handed_back, job_.number, [&](WireWriter& w) {
      w.put<std::uint64_t>(back.size());
      for (const auto& a : back)
        w.put(a.id);
    }));
  }

  BackendEvents events() {
    BackendEvents e;
    e.result = [this](std::uint64_t id, BatchOutcome o) {
      std::string message =
          cluster_message(ClusterMessage::result, job_.number, [&](WireWriter& w) {
            w.put(id);
            encode(w, o);
          });
      // One MPI message holds at most 2 GB; results this large belong in smaller mini-batches,
      // as a worker process's do (worker_protocol.hpp).
      if (message.size() > max_frame_size) {
        const std::size_t bytes = message.size();
        message = cluster_message(ClusterMessage::failed, job_.number, [&](WireWriter& w) {
          w.put(id);
          w.put(
              fmt::format("the mini-batch's result is {} bytes, above the {} bytes a node can "
                          "send back at once: use smaller mini-batches",
                          bytes, max_frame_size));
          w.put(FailureKind::threw);
          encode(w, o.times);
        });
      }
      send(std::move(message));
    };
    e.attempt_failed = [this](std::uint64_t id, std::string reason, FailureKind kind,
                              AttemptTimes times) {
      send(cluster_message(ClusterMessage::failed, job_.number, [&](WireWriter& w) {
        w.put(id);
        w.put(reason);
        w.put(kind);
        encode(w, times);
      }));
    };
    e.init_failed = [this](std::size_t worker, std::string reason, bool misconfigured) {
      init_failed(worker, reason, misconfigured, false);
    };
    e.warning = [this](std::string message) {
      send(cluster_message(ClusterMessage::warning, job_.number,
                           [&](WireWriter& w) { w.put(message); }));
    };
    e.handed_back = [this] { hand_back(); };
    e.attempt_started = [this](std::uint64_t id, AttemptTimes times) {
      send(cluster_message(ClusterMessage::started, job_.number, [&](WireWriter& w) {
        w.put(id);
        encode(w, times);
      }));
    };
    return e;
  }

  // The transport's messages, handled on the io_context's thread, until rank 0's end.
  void receive_loop(boost::asio::io_context& io) {
    for (;;) {
      auto m = job_.cluster->receive(std::chrono::milliseconds(200));
      if (!m || m->from != 0) continue;
      WireReader r(m->bytes);
      const auto type = r.get_enum(ClusterMessage::last);
      if (r.get<std::uint64_t>() != job_.number) continue;
      const bool last = type == ClusterMessage::end;
      boost::asio::post(io, [this, &io, type, bytes = std::move(m->bytes)]() mutable {
        handle(io, type, std::move(bytes));
      });
      if (last) return;
    }
  }

  void handle(boost::asio::io_context& io, ClusterMessage type, std::string bytes) {
    WireReader r(bytes);
    r.get<ClusterMessage>();
    r.get<std::uint64_t>();
    switch (type) {
      case ClusterMessage::task: {
        if (backend_ == nullptr) return;
        Attempt<Task> a;
        a.id = r.get<std::uint64_t>();
        a.number = r.get<std::int64_t>();
        if (start_failed_) {
          send(cluster_message(ClusterMessage::handed_back, job_.number, [&](WireWriter& w) {
            w.put<std::uint64_t>(1);
            w.put(a.id);
          }));
          return;
        }
        a.batch = std::make_shared<const Task>(decode_task<Task>(r));
        backend_->submit(std::move(a));
        break;
      }
      case ClusterMessage::withdraw:
        hand_back();
        break;
      case ClusterMessage::retire:
        if (backend_) backend_->retire(static_cast<std::size_t>(r.get<std::uint64_t>()));
        break;
      case ClusterMessage::top_up:
        if (backend_) backend_->top_up();
        break;
      case ClusterMessage::no_more_work:
        if (backend_) {
          backend_->no_more_work();
          hand_back();
        }
        break;
      case ClusterMessage::stop:
        deliver_ = r.get<bool>();
        io.stop();
        break;
      case ClusterMessage::end:
        end_ = std::move(bytes);
        io.stop();
        break;
      default:
        break;
    }
  }

  ClusterJob job_;
  ScorerFactory<materialized_t<Task>> factory_;
  std::function<void(Local<Task>&)> setup_;
  std::size_t node_ = 0;
  Local<Task>* backend_ = nullptr;
  bool start_failed_ = false;
  bool deliver_ = true;
  std::string end_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
