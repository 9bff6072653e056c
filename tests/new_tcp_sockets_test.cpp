// NewTcpSockets: the TCP connections opened after it was made are told not to hold back small
// writes; what was open before, and what is not a TCP socket, is left as it was.
#include <parallel_run/detail/new_tcp_sockets.hpp>

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>

namespace {

using parallel_run::detail::NewTcpSockets;

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) { REQUIRE(fd >= 0); }
  ~Fd() { ::close(fd); }
};

int nodelay_of(int fd) {
  int value = -1;
  socklen_t length = sizeof value;
  REQUIRE(::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &length) == 0);
  return value;
}

// A TCP socket listening on the loopback at a port of the kernel's choice.
int loopback_listener(sockaddr_in& address) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  return fd;
}

}  // namespace

TEST_CASE("TCP sockets opened after the snapshot get TCP_NODELAY and nothing else changes",
          "[cluster][sockets]") {
  sockaddr_in early_address{};
  Fd early(loopback_listener(early_address));
  Fd early_client(::socket(AF_INET, SOCK_STREAM, 0));
  REQUIRE(::connect(early_client.fd, reinterpret_cast<sockaddr*>(&early_address),
                    sizeof early_address) == 0);

  const NewTcpSockets opened;

  sockaddr_in address{};
  Fd listener(loopback_listener(address));
  Fd client(::socket(AF_INET, SOCK_STREAM, 0));
  REQUIRE(::connect(client.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  Fd accepted(::accept(listener.fd, nullptr, nullptr));
  int unix_pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, unix_pair) == 0);
  Fd unix_a(unix_pair[0]), unix_b(unix_pair[1]);
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  Fd pipe_r(pipe_fds[0]), pipe_w(pipe_fds[1]);
  Fd udp(::socket(AF_INET, SOCK_DGRAM, 0));

  REQUIRE(nodelay_of(client.fd) == 0);
  REQUIRE(nodelay_of(accepted.fd) == 0);

  // The listener, the client and the accepted connection: three TCP stream sockets.
  CHECK(opened.set_nodelay() == 3);
  CHECK(nodelay_of(client.fd) == 1);
  CHECK(nodelay_of(accepted.fd) == 1);
  CHECK(nodelay_of(listener.fd) == 1);
  CHECK(nodelay_of(early.fd) == 0);
  CHECK(nodelay_of(early_client.fd) == 0);

  const auto fds = NewTcpSockets::open_descriptors();
  CHECK(std::is_sorted(fds.begin(), fds.end()));
  for (int fd : {early.fd, client.fd, unix_a.fd, pipe_r.fd, pipe_w.fd, udp.fd})
    CHECK(std::binary_search(fds.begin(), fds.end(), fd));
}
