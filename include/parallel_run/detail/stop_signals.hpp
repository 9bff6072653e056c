// Graceful stop on SIGINT and SIGTERM through a boost::asio::signal_set on the coordinator's
// io_context. The first signal calls back and puts the default action back, so a second one
// ends the process at once, after the job's last words (LastWords: async-signal-safe, so that
// the journal does not blame the mini-batches that were running for a death the user asked
// for); when the job ends, the host program's own handling is restored (Asio alone would
// leave SIG_DFL). A signal that was ignored when the job started (a
// background job of a shell script) stays ignored. SigpipeIgnored: while a job runs, a write
// to a closed pipe is an error, not the end of the process.
#pragma once
#include "parallel_run/version.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <mutex>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// What a job says, from a signal handler, when a second stop signal ends its process: only
/// async-signal-safe work (stores to memory, no lock, no allocation).
struct LastWords {
  void (*say)(void* arg) noexcept = nullptr;
  void* arg = nullptr;
};

class StopSignals {
 public:
  StopSignals(boost::asio::io_context& io, bool enabled, std::function<void(int)> on_signal,
              LastWords last_words = {})
      : set_(io) {
    if (!enabled) return;
    for (int signal : {SIGINT, SIGTERM}) {
      struct sigaction previous {};
      if (::sigaction(signal, nullptr, &previous) != 0 || previous.sa_handler == SIG_IGN) continue;
      // Another job's last-words handler is not the host's handling: the default is.
      if (previous.sa_handler == &last_words_handler) previous.sa_handler = SIG_DFL;
      saved_.push_back({signal, previous});
      set_.add(signal);
    }
    if (saved_.empty()) return;
    set_.async_wait([this, on_signal = std::move(on_signal)](const boost::system::error_code& error,
                                                             int signal) {
      if (error) return;
      boost::system::error_code ignored;
      set_.clear(ignored);
      say_last_words_at_the_next();
      on_signal(signal);
    });
    if (last_words.say != nullptr) entry_ = LastWordsList::add(last_words);
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
    if (entry_ != nullptr) LastWordsList::remove(entry_);
    entry_ = nullptr;
  }

 private:
  struct Saved {
    int signal;
    struct sigaction previous;
  };

  // The jobs of one process may overlap: each one's last words have an entry here, and a
  // second signal to any of them says them all (the process ends).
  class LastWordsList {
   public:
    struct Entry {
      std::atomic<void (*)(void*) noexcept> say{nullptr};
      std::atomic<void*> arg{nullptr};
    };
    static Entry* add(LastWords w) {
      const std::lock_guard lock(mutex());
      owner().store(::getpid());
      for (Entry& e : entries()) {
        if (e.say.load() != nullptr) continue;
        e.arg.store(w.arg);  // first: a handler that sees the function sees its argument
        e.say.store(w.say);
        return &e;
      }
      return nullptr;  // more overlapping jobs than entries: those past them say nothing
    }
    static void remove(Entry* e) {
      const std::lock_guard lock(mutex());
      e->say.store(nullptr);
      e->arg.store(nullptr);
    }
    static bool any() {
      const std::lock_guard lock(mutex());
      for (Entry& e : entries())
        if (e.say.load() != nullptr) return true;
      return false;
    }
    static void say_all() noexcept {  // in a signal handler: loads only
      // A child forked by a scorer (without exec) has the handler and the job's mappings: its
      // own death says nothing for the job.
      if (::getpid() != owner().load()) return;
      for (Entry& e : entries()) {
        auto say = e.say.load();
        void* arg = e.arg.load();
        if (say != nullptr && arg != nullptr) say(arg);
      }
    }

   private:
    static std::array<Entry, 16>& entries() {
      static std::array<Entry, 16> list;
      return list;
    }
    static std::mutex& mutex() {
      static std::mutex m;
      return m;
    }
    static std::atomic<::pid_t>& owner() {
      static std::atomic<::pid_t> pid{0};
      return pid;
    }
  };

  static void last_words_handler(int signal) {
    LastWordsList::say_all();
    ::signal(signal, SIG_DFL);
    ::raise(signal);
  }

  // After the first signal: where Asio gave the signal back its default action (no other
  // job of the process listens to it), a handler says the last words, then the signal ends
  // the process as the default action would.
  // (Any job's: the one whose clear() gave the default back may have none of its own.)
  void say_last_words_at_the_next() {
    if (!LastWordsList::any()) return;
    for (const auto& s : saved_) {
      struct sigaction now {};
      if (::sigaction(s.signal, nullptr, &now) != 0 || now.sa_handler != SIG_DFL) continue;
      struct sigaction last {};
      last.sa_handler = &last_words_handler;
      sigemptyset(&last.sa_mask);
      last.sa_flags = SA_RESETHAND;
      ::sigaction(s.signal, &last, nullptr);
    }
  }

  boost::asio::signal_set set_;
  std::vector<Saved> saved_;
  LastWordsList::Entry* entry_ = nullptr;
};

/// SIGPIPE ignored while one lives, when its action was the default: a write to a closed pipe
/// (stderr piped into `head`, which has exited) then fails with EPIPE, which the stream keeps
/// as its error, instead of killing the job with its output unwritten. The action from before
/// comes back when the last one ends (the jobs of one process may overlap). Worker processes
/// start with every signal's default action (process_spawn.hpp).
class SigpipeIgnored {
 public:
  SigpipeIgnored() {
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (s.holders++ > 0) return;
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    s.changed = ::sigaction(SIGPIPE, nullptr, &s.previous) == 0 &&
                s.previous.sa_handler == SIG_DFL && ::sigaction(SIGPIPE, &ignore, nullptr) == 0;
  }
  ~SigpipeIgnored() {
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (--s.holders > 0 || !s.changed) return;
    // What was written meanwhile goes first: a write left in a buffer for exit() to flush
    // would raise the signal then.
    std::fflush(nullptr);
    // Only our own SIG_IGN is undone: a host that set a handler meanwhile keeps it.
    struct sigaction now {};
    if (::sigaction(SIGPIPE, nullptr, &now) == 0 && now.sa_handler == SIG_IGN)
      ::sigaction(SIGPIPE, &s.previous, nullptr);
    s.changed = false;
  }
  SigpipeIgnored(const SigpipeIgnored&) = delete;
  SigpipeIgnored& operator=(const SigpipeIgnored&) = delete;

 private:
  struct State {
    std::mutex mutex;
    int holders = 0;
    bool changed = false;
    struct sigaction previous {};
  };
  static State& state() {
    static State s;
    return s;
  }
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
