// Graceful stop on SIGINT and SIGTERM through a boost::asio::signal_set on the coordinator's
// io_context. The first signal calls back and puts the default action back, so a second one
// ends the process at once; when the job ends, the host program's own handling is restored
// (Asio alone would leave SIG_DFL). A signal that was ignored when the job started (a
// background job of a shell script) stays ignored.
#pragma once
#include "parallel_run/version.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <functional>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

class StopSignals {
 public:
  StopSignals(boost::asio::io_context& io, bool enabled, std::function<void(int)> on_signal)
      : set_(io) {
    if (!enabled) return;
    for (int signal : {SIGINT, SIGTERM}) {
      struct sigaction previous {};
      if (::sigaction(signal, nullptr, &previous) != 0 || previous.sa_handler == SIG_IGN) continue;
      saved_.push_back({signal, previous});
      set_.add(signal);
    }
    if (saved_.empty()) return;
    set_.async_wait([this, on_signal = std::move(on_signal)](const boost::system::error_code& error,
                                                             int signal) {
      if (error) return;
      boost::system::error_code ignored;
      set_.clear(ignored);
      on_signal(signal);
    });
  }
  ~StopSignals() { restore(); }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// Stops listening and gives the signals back their handling from before the job.
  void restore() {
    boost::system::error_code ignored;
    set_.cancel(ignored);
    set_.clear(ignored);
    for (const auto& s : saved_)
      ::sigaction(s.signal, &s.previous, nullptr);
    saved_.clear();
  }

 private:
  struct Saved {
    int signal;
    struct sigaction previous;
  };
  boost::asio::signal_set set_;
  std::vector<Saved> saved_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
