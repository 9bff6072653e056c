// A fresh folder per test, removed afterwards; helpers to write inputs and read outputs.
#pragma once
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <unistd.h>

namespace test_support {

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("parallel_run_test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& p, const std::string& content) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Writes n files named f000.txt, f001.txt, ... holding their own number.
inline void make_numbered_files(const std::filesystem::path& dir, int n) {
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "f%03d.txt", i);
    write_file(dir / name, std::to_string(i));
  }
}

/// The expected output of a key-echoing scorer over make_numbered_files(dir, n).
inline std::string numbered_keys(int n, int from = 0) {
  std::string s;
  for (int i = from; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "f%03d.txt\n", i);
    s += name;
  }
  return s;
}

}  // namespace test_support
