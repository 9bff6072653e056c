// The TCP connections a library call opened, found by comparing the process's descriptors before
// and after it, so that they can be told not to hold back small writes (TCP_NODELAY).
//
// Why: Open MPI 4.1's ranks talk to their launcher (mpirun's PMIx server) over TCP on the
// loopback, without TCP_NODELAY. MPI_Finalize sends a few small messages in a row; Nagle's
// algorithm holds the second one until the first is acknowledged, and the launcher delays its
// acknowledgement by 40 ms. Every run paid those 40 ms at its end (MPI_Finalize measured 45 ms on
// two ranks here; 4 ms with the connection told not to wait). Nothing in Open MPI or PMIx sets it.
#pragma once
#include "parallel_run/version.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// The descriptors open when it was made; set_nodelay() then finds the TCP sockets opened since.
class NewTcpSockets {
 public:
  NewTcpSockets() : before_(open_descriptors()) {}

  /// Sets TCP_NODELAY on each TCP stream socket (IPv4 or IPv6) opened since construction;
  /// other descriptors (files, pipes, Unix sockets) are left alone. Returns how many it set.
  std::size_t set_nodelay() const {
    std::size_t set = 0;
    for (int fd : open_descriptors()) {
      if (std::binary_search(before_.begin(), before_.end(), fd) || !is_tcp_stream(fd)) continue;
      const int one = 1;
      if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) ++set;
    }
    return set;
  }

  /// The process's open descriptors, sorted (empty when /proc is not mounted).
  static std::vector<int> open_descriptors() {
    std::vector<int> fds;
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return fds;
    const int own = ::dirfd(dir);
    while (const ::dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
      const int fd = std::atoi(entry->d_name);
      if (fd != own) fds.push_back(fd);
    }
    ::closedir(dir);
    std::sort(fds.begin(), fds.end());
    return fds;
  }

 private:
  static bool is_tcp_stream(int fd) {
    int type = 0;
    ::socklen_t length = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM)
      return false;
    ::sockaddr_storage address{};
    length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<::sockaddr*>(&address), &length) != 0) return false;
    return address.ss_family == AF_INET || address.ss_family == AF_INET6;
  }

  std::vector<int> before_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
