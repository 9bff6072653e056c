// Gate: holds scorer code until the test opens it. Every wait is bounded, so a broken
// library fails the test instead of hanging it.
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace test_support {

struct Gate {
  std::mutex mutex;
  std::condition_variable cv;
  bool opened = false;
  void open() {
    {
      std::lock_guard lock(mutex);
      opened = true;
    }
    cv.notify_all();
  }
  bool wait(std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, limit, [&] { return opened; });
  }
};

}  // namespace test_support
