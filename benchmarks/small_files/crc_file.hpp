// The per-file work of the small_files benchmark, shared by the library program and the
// hand-written loop so that any difference in their times is the library's own overhead.
#pragma once

#include <zlib.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace small_files {

/// The zlib CRC-32 of the whole file. Plain open/read/close: the fewest system calls for a
/// file of a few hundred bytes, which is what both contenders pay per item.
inline std::uint32_t crc32_of_file(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw std::runtime_error(std::string("cannot open ") + path + ": " + std::strerror(errno));
  unsigned char buf[1 << 16];
  uLong crc = ::crc32(0L, Z_NULL, 0);
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw std::runtime_error(std::string("cannot read ") + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    crc = ::crc32(crc, buf, static_cast<uInt>(n));
  }
  ::close(fd);
  return static_cast<std::uint32_t>(crc);
}

/// Appends "<key> <crc as 8 lower-case hex digits>", the row format all contenders share.
inline void append_row(std::string& out, const std::string& key, std::uint32_t crc) {
  static constexpr char digits[] = "0123456789abcdef";
  out.append(key);
  out.push_back(' ');
  for (int shift = 28; shift >= 0; shift -= 4)
    out.push_back(digits[(crc >> shift) & 0xfu]);
}

}  // namespace small_files
