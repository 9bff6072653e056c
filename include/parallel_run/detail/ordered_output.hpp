// Writes each mini-batch's rows (and failed-item lines) in mini-batch order, whatever the
// order results arrive in. Results that arrive early wait in memory up to a byte budget;
// beyond it they go to a spill file in the output folder and are read back in their turn,
// so one slow mini-batch never makes memory grow with the rest of the input.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/detail/atomic_file.hpp"
#include "parallel_run/detail/temp_names.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

class OrderedOutput {
 public:
  /// `rows` may be null (summary_only). The spill file is created only when needed.
  OrderedOutput(AtomicFile* rows, AtomicFile* failed, std::filesystem::path spill_dir,
                std::uint64_t max_buffered_bytes)
      : rows_(rows),
        failed_(failed),
        spill_dir_(std::move(spill_dir)),
        budget_(max_buffered_bytes) {}
  ~OrderedOutput() {
    if (spill_) {
      std::fclose(spill_);
      std::error_code ec;
      std::filesystem::remove(spill_path_, ec);
    }
  }
  OrderedOutput(const OrderedOutput&) = delete;
  OrderedOutput& operator=(const OrderedOutput&) = delete;

  /// The final output of mini-batch `index`; each index is submitted exactly once.
  void submit(std::size_t index, std::string rows, std::string failed) {
    if (index == next_) {
      write(rows, failed);
      ++next_;
      drain();
      return;
    }
    Pending p;
    std::uint64_t size = rows.size() + failed.size();
    if (buffered_ + size > budget_) {
      p.spilled = true;
      p.rows_len = rows.size();
      p.failed_len = failed.size();
      p.offset = spill(rows, failed);
      ++spilled_chunks_;
    } else {
      buffered_ += size;
      p.rows = std::move(rows);
      p.failed = std::move(failed);
    }
    pending_.emplace(index, std::move(p));
  }

  /// The next mini-batch index the output waits for.
  std::size_t next_index() const noexcept { return next_; }
  /// Mini-batches waiting for an earlier one.
  std::size_t waiting() const noexcept { return pending_.size(); }
  std::uint64_t buffered_bytes() const noexcept { return buffered_; }
  /// How many results went through the spill file.
  std::size_t spilled_chunks() const noexcept { return spilled_chunks_; }

 private:
  struct Pending {
    bool spilled = false;
    std::string rows, failed;
    std::uint64_t offset = 0, rows_len = 0, failed_len = 0;
  };

  void write(const std::string& rows, const std::string& failed) {
    if (rows_) rows_->write(rows);
    failed_->write(failed);
  }

  void drain() {
    for (auto it = pending_.begin(); it != pending_.end() && it->first == next_;
         it = pending_.erase(it), ++next_) {
      Pending& p = it->second;
      if (p.spilled) {
        std::string rows(p.rows_len, '\0'), failed(p.failed_len, '\0');
        read_back(p.offset, rows);
        read_back(p.offset + p.rows_len, failed);
        write(rows, failed);
      } else {
        buffered_ -= p.rows.size() + p.failed.size();
        write(p.rows, p.failed);
      }
    }
  }

  std::uint64_t spill(const std::string& rows, const std::string& failed) {
    if (!spill_) {
      spill_path_ = spill_dir_ / fmt::format(".parallel_run_spill-{}", process_tag());
      spill_ = std::fopen(spill_path_.c_str(), "w+be");  // "e": O_CLOEXEC
      if (!spill_)
        throw OutputError(fmt::format("cannot create spill file '{}'", spill_path_.string()));
    }
    std::uint64_t offset = spill_end_;
    if (::fseeko(spill_, static_cast<off_t>(offset), SEEK_SET) != 0 ||
        std::fwrite(rows.data(), 1, rows.size(), spill_) != rows.size() ||
        std::fwrite(failed.data(), 1, failed.size(), spill_) != failed.size())
      throw OutputError(fmt::format("cannot write spill file '{}'", spill_path_.string()));
    spill_end_ += rows.size() + failed.size();
    return offset;
  }

  void read_back(std::uint64_t offset, std::string& into) {
    if (into.empty()) return;
    if (::fseeko(spill_, static_cast<off_t>(offset), SEEK_SET) != 0 ||
        std::fread(into.data(), 1, into.size(), spill_) != into.size())
      throw OutputError(fmt::format("cannot read spill file '{}'", spill_path_.string()));
  }

  AtomicFile* rows_;
  AtomicFile* failed_;
  std::filesystem::path spill_dir_;
  std::uint64_t budget_;
  std::map<std::size_t, Pending> pending_;
  std::size_t next_ = 0;
  std::uint64_t buffered_ = 0;
  std::size_t spilled_chunks_ = 0;
  std::FILE* spill_ = nullptr;
  std::filesystem::path spill_path_;
  std::uint64_t spill_end_ = 0;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
