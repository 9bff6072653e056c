// The messages between rank 0 (the coordinator, detail/cluster_backend.hpp) and the other
// ranks (nodes, detail/node_agent.hpp) of a multi-node job. Each is a type, the job's number
// among this program's multi-node jobs, then its fields in the wire form of detail/wire.hpp;
// tasks, outcomes and settings use the worker protocol's encodings.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/detail/wire.hpp"
#include "parallel_run/detail/worker_protocol.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

enum class ClusterMessage : std::uint8_t {
  // rank 0 -> node
  begin,         // settings (the coordinator's), the task type, the node's index
  task,          // attempt id, attempt number, the task
  withdraw,      // hand back the attempts not started
  retire,        // a worker whose init failed is gone
  top_up,        // replace lost workers
  no_more_work,  // the job stops: nothing new starts
  stop,          // end the workers (deliver events or not), then say stopped
  end,           // the job's result (or its error): the node returns it
  // node -> rank 0
  started,      // attempt id, times
  result,       // attempt id, outcome
  failed,       // attempt id, reason, kind, times
  init_failed,  // local worker, reason, misconfigured
  warning,      // text
  handed_back,  // attempt ids given back unstarted
  stopped,      // stuck workers, detached workers
  last = stopped,
};

/// A message of `type` for job `job`, its fields written by `fill(WireWriter&)`.
template <class Fill>
std::string cluster_message(ClusterMessage type, std::uint64_t job, Fill&& fill) {
  std::string out;
  WireWriter w(out);
  w.put(type);
  w.put(job);
  fill(w);
  return out;
}
inline std::string cluster_message(ClusterMessage type, std::uint64_t job) {
  return cluster_message(type, job, [](WireWriter&) {});
}

/// What a node returns when rank 0's job ended: the result, or the error rank 0 threw (the
/// node throws the same kind, so every rank exits with the same status).
inline void encode_job_end(WireWriter& w, const JobResult* result, std::exception_ptr error) {
  if (!error) {
    const JobResult& r = *result;
    w.put<std::uint8_t>(0);
    w.put(r.succeeded);
    w.put(r.failure_reason);
    w.put(r.output_error);
    w.put(r.configuration_error);
    w.put(r.interrupted_by);
    for (std::size_t v :
         {r.items_total, r.items_succeeded, r.items_failed, r.items_not_processed,
          r.mini_batches_total, r.mini_batches_succeeded, r.mini_batches_failed,
          r.mini_batches_not_processed, r.attempts, r.retries, r.timeouts, r.init_failures,
          r.warnings, r.inputs_skipped, r.mini_batches_resumed, r.mini_batches_inputs_changed})
      w.put<std::uint64_t>(v);
    w.put(r.reused);
    w.put(r.wall_seconds);
    w.put(r.output_file.native());
    w.put(r.failed_items_file.native());
    w.put(r.log_dir.native());
    return;
  }
  const auto message_of = [](const Error& e) {
    std::string_view what = e.what();
    const std::string prefix = "[" + e.id() + "] ";
    if (what.starts_with(prefix)) what.remove_prefix(prefix.size());
    return std::string(what);
  };
  try {
    std::rethrow_exception(error);
  } catch (const ConfigError& e) {
    w.put<std::uint8_t>(1);
    w.put(e.setting());
    w.put(message_of(e));
  } catch (const InputError& e) {
    w.put<std::uint8_t>(2);
    w.put(message_of(e));
  } catch (const UsageError& e) {
    w.put<std::uint8_t>(3);
    w.put(message_of(e));
  } catch (const Error& e) {
    w.put<std::uint8_t>(4);
    w.put(e.id());
    w.put(message_of(e));
  } catch (const std::exception& e) {
    w.put<std::uint8_t>(4);
    w.put(std::string("parallel_run.internal"));
    w.put(std::string(e.what()));
  } catch (...) {
    w.put<std::uint8_t>(4);
    w.put(std::string("parallel_run.internal"));
    w.put(std::string("unknown exception"));
  }
}

/// The result encode_job_end wrote, or throws its error.
inline JobResult decode_job_end(WireReader& r) {
  switch (r.get<std::uint8_t>()) {
    case 0: {
      JobResult j;
      j.succeeded = r.get<bool>();
      j.failure_reason = r.get_string();
      j.output_error = r.get<bool>();
      j.configuration_error = r.get<bool>();
      j.interrupted_by = r.get<int>();
      for (std::size_t* v :
           {&j.items_total, &j.items_succeeded, &j.items_failed, &j.items_not_processed,
            &j.mini_batches_total, &j.mini_batches_succeeded, &j.mini_batches_failed,
            &j.mini_batches_not_processed, &j.attempts, &j.retries, &j.timeouts, &j.init_failures,
            &j.warnings, &j.inputs_skipped, &j.mini_batches_resumed,
            &j.mini_batches_inputs_changed})
        *v = static_cast<std::size_t>(r.get<std::uint64_t>());
      j.reused = r.get<bool>();
      j.wall_seconds = r.get<double>();
      j.output_file = r.get_string();
      j.failed_items_file = r.get_string();
      j.log_dir = r.get_string();
      return j;
    }
    case 1: {
      std::string setting = r.get_string();
      throw ConfigError(setting, r.get_string());
    }
    case 2:
      throw InputError(r.get_string());
    case 3:
      throw UsageError(r.get_string());
    default: {
      std::string id = r.get_string();
      throw Error(id, r.get_string());
    }
  }
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
