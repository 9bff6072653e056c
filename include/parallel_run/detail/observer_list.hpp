// The job's observers, called in turn: the log folder's own files first, then the user's.
// An observer that throws is reported once and dropped: a broken exporter must not take the
// job (and what it already computed) down with it.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/observer.hpp"
#include "parallel_run/detail/backend.hpp"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

class ObserverList {
 public:
  void add(std::shared_ptr<JobObserver> o) {
    if (o) observers_.push_back(std::move(o));
  }
  /// Where an observer's failure is reported (the job's log).
  void on_error(std::function<void(const std::string&)> report) { report_ = std::move(report); }

  /// Calls `event(observer)` on each observer still attached.
  template <class Event>
  void notify(Event&& event) {
    for (auto& o : observers_) {
      if (!o) continue;
      try {
        event(*o);
      } catch (...) {
        const std::string what = describe_current_exception();
        o.reset();
        if (report_) report_("an observer of the job threw and is called no more: " + what);
      }
    }
  }

 private:
  std::vector<std::shared_ptr<JobObserver>> observers_;
  std::function<void(const std::string&)> report_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
