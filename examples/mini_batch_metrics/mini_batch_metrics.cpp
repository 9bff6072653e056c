// mini_batch_metrics: an observer of the job's events that exports a metric per mini-batch
// in the Prometheus text format, as node_exporter's textfile collector reads it. The scorer
// counts the words of text files; the observer keeps, for each mini-batch, the seconds its
// last attempt spent in run() and its status, plus job-wide counters, and rewrites the
// metrics file whole (written, then renamed) as the job progresses and when it ends:
//
//   mini_batch_metrics --input docs --output out/words --mini-batch-size 2 -- --metrics x.prom
//   -> x.prom:
//      parallel_run_mini_batch_run_seconds{mini_batch="0",first_key="a.md",status="succeeded"}
//      0.000113
//      ...
//      parallel_run_attempts_total{status="succeeded"} 3
//      parallel_run_items_total{outcome="succeeded"} 5
//
// The observer is handed to parallel_run::main with the scorer; in code,
// ParallelRun::add_observer does the same.
#include <parallel_run/parallel_run.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

/// A label value in the Prometheus text format: backslash, quote and line break escaped.
std::string label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"')
      out += {'\\', c};
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

class PrometheusFile : public parallel_run::JobObserver {
 public:
  explicit PrometheusFile(std::filesystem::path file) : file_(std::move(file)) {}

  void attempt_ended(const parallel_run::AttemptInfo& a) override {
    ++attempts_[parallel_run::to_string(a.status)];
    if (!a.last) return;  // a retry follows: the mini-batch's metric is its last attempt's
    last_[a.mini_batch.index] = a;
  }

  void progress(const parallel_run::JobProgress& p) override {
    items_succeeded_ = p.items_succeeded;
    items_failed_ = p.items_failed;
    write();
  }

  void job_ended(const parallel_run::JobResult& r) override {
    items_succeeded_ = r.items_succeeded;
    items_failed_ = r.items_failed + r.items_not_processed;
    write();
  }

 private:
  void write() const {
    std::string text =
        "# HELP parallel_run_mini_batch_run_seconds Seconds the last attempt of a mini-batch "
        "spent in run().\n# TYPE parallel_run_mini_batch_run_seconds gauge\n";
    for (const auto& [index, a] : last_)
      text += fmt::format(
          "parallel_run_mini_batch_run_seconds{{mini_batch=\"{}\",first_key=\"{}\","
          "status=\"{}\"}} {:.6f}\n",
          index, label(a.mini_batch.first_key), parallel_run::to_string(a.status), a.run_seconds);
    text +=
        "# HELP parallel_run_attempts_total Attempts ended, by status.\n"
        "# TYPE parallel_run_attempts_total counter\n";
    for (const auto& [status, n] : attempts_)
      text += fmt::format("parallel_run_attempts_total{{status=\"{}\"}} {}\n", status, n);
    text +=
        "# HELP parallel_run_items_total Items, by outcome.\n"
        "# TYPE parallel_run_items_total counter\n";
    text += fmt::format("parallel_run_items_total{{outcome=\"succeeded\"}} {}\n", items_succeeded_);
    text += fmt::format("parallel_run_items_total{{outcome=\"failed\"}} {}\n", items_failed_);
    // Written then renamed: a collector never reads half a file.
    const std::filesystem::path temp = file_.string() + ".partial";
    {
      std::ofstream out(temp, std::ios::trunc);
      out << text;
      if (!out) throw std::runtime_error("cannot write " + temp.string());
    }
    std::filesystem::rename(temp, file_);
  }

  std::filesystem::path file_;
  std::map<std::size_t, parallel_run::AttemptInfo> last_;  // by mini-batch
  std::map<std::string, std::size_t> attempts_;
  std::size_t items_succeeded_ = 0;
  std::size_t items_failed_ = 0;
};

/// Counts the words of each file.
std::vector<std::string> count_words(const parallel_run::FileBatch& batch) {
  std::vector<std::string> rows;
  for (const auto& entry : batch) {
    std::ifstream in(entry.path);
    if (!in) throw std::runtime_error("cannot open " + entry.path.string());
    std::size_t words = 0;
    for (std::string word; in >> word;)
      ++words;
    rows.push_back(fmt::format("{} {}", entry.key, words));
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  // --metrics FILE (after "--"): where the metrics go; read here, before the job starts,
  // because the observer lives in this process (the coordinator's).
  std::filesystem::path metrics = "mini_batch_metrics.prom";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--metrics") metrics = argv[i + 1];
  if (metrics.has_parent_path()) std::filesystem::create_directories(metrics.parent_path());
  auto observer = std::make_shared<PrometheusFile>(metrics);
  return parallel_run::main(argc, argv, parallel_run::make_scorer(count_words), {observer});
}
