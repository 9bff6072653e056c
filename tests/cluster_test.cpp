// Many nodes without MPI: the names of nodes' logs, what rank 0 tells the nodes at the end of
// a job, node_count checked against the launch, and the moving average of run times that
// sizes the nodes' queues. The jobs on several ranks themselves run
// under mpirun in tests/mpi/mpi_test.sh.
#include "parallel_run/detail/cluster_protocol.hpp"
#include "parallel_run/detail/cluster.hpp"
#include "parallel_run/detail/run_time_average.hpp"

#include <catch2/catch.hpp>

#include <parallel_run/parallel_run.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

using namespace parallel_run;

TEST_CASE("nodes sharing a host are told apart by their rank", "[cluster]") {
  CHECK(detail::node_names({"a", "b", "a"}) == std::vector<std::string>{"a-node0", "b", "a-node2"});
  CHECK(detail::node_names({"x", "y"}) == std::vector<std::string>{"x", "y"});
  CHECK(detail::node_names({"h"}) == std::vector<std::string>{"h"});
}

TEST_CASE("a node returns rank 0's result, or throws its error", "[cluster]") {
  JobResult r;
  r.succeeded = false;
  r.failure_reason = "error_threshold 2 exceeded";
  r.interrupted_by = 15;
  r.items_total = 40;
  r.items_succeeded = 31;
  r.items_failed = 3;
  r.items_not_processed = 6;
  r.mini_batches_resumed = 7;
  r.mini_batches_inputs_changed = 2;
  r.output_file = "/out/parallel_run_step.txt";
  std::string bytes;
  detail::WireWriter w(bytes);
  detail::encode_job_end(w, &r, nullptr);
  detail::WireReader rd(bytes);
  const JobResult back = detail::decode_job_end(rd);
  CHECK(rd.done());
  CHECK_FALSE(back.succeeded);
  CHECK(back.failure_reason == r.failure_reason);
  CHECK(back.interrupted_by == 15);
  CHECK(back.items_total == 40);
  CHECK(back.items_succeeded == 31);
  CHECK(back.items_failed == 3);
  CHECK(back.items_not_processed == 6);
  CHECK(back.mini_batches_resumed == 7);
  CHECK(back.mini_batches_inputs_changed == 2);
  CHECK(back.output_file == "/out/parallel_run_step.txt");

  auto round_trip = [](std::exception_ptr e) {
    std::string b;
    detail::WireWriter wr(b);
    detail::encode_job_end(wr, nullptr, e);
    detail::WireReader in(b);
    return detail::decode_job_end(in);
  };
  try {
    round_trip(std::make_exception_ptr(ConfigError("resume", "the run changed")));
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(e.setting() == "resume");
    CHECK(std::string(e.what()) == "[parallel_run.config.resume] the run changed");
  }
  CHECK_THROWS_WITH(round_trip(std::make_exception_ptr(InputError("no such folder 'x'"))),
                    "[parallel_run.input] no such folder 'x'");
  CHECK_THROWS_WITH(round_trip(std::make_exception_ptr(Error("parallel_run.output", "disk full"))),
                    "[parallel_run.output] disk full");
}

TEST_CASE("node_count other than the nodes launched is refused, naming the launch", "[cluster]") {
  test_support::TempDir dir;
  std::filesystem::create_directories(dir / "in");
  std::ofstream(dir / "in" / "a.txt") << "a\n";
  Config config;
  config.output_dir = dir / "out";
  config.node_count = 3;
  auto scorer = make_scorer(
      [](const FileBatch& b) { return map_items(b, [](const FileEntry& e) { return e.key; }); });
  CHECK_THROWS_WITH(
      ParallelRun(config, scorer).run(FileDataset({(dir / "in").string()})),
      "[parallel_run.config.node_count] node_count is 3 but the program was not launched on "
      "several nodes: start it with mpirun -np 3 (or srun -N 3 --mpi=pmix), built with "
      "<parallel_run/mpi.hpp> and the parallel_run::mpi target; or leave node_count out");
  CHECK_FALSE(std::filesystem::exists(dir / "out" / "parallel_run_step.txt"));
  config.node_count = 1;  // one node, said explicitly
  CHECK(ParallelRun(config, scorer).run(FileDataset({(dir / "in").string()})).succeeded);
}

TEST_CASE("queues are sized by a moving average of the attempts' run times", "[cluster]") {
  using std::chrono::milliseconds;
  detail::RunTimeAverage average;
  auto attempt = [](std::int64_t start_ns, std::int64_t end_ns) {
    detail::AttemptTimes t;
    t.wall_start_ns = start_ns;
    t.wall_end_ns = end_ns;
    return t;
  };
  // Nothing timed yet: the low end.
  CHECK(average.count_in(milliseconds(8), 1, 64) == 1);
  CHECK(average.count_in(milliseconds(8), 16, 64) == 16);
  // A clock that went back, or an attempt of no length, is ignored.
  average.add(attempt(5'000'000, 4'000'000));
  average.add(attempt(5'000'000, 5'000'000));
  CHECK(average.count_in(milliseconds(8), 1, 64) == 1);
  // The first timed attempt is the average: 8 ms of 0.5 ms attempts is 16 of them.
  average.add(attempt(0, 500'000));
  CHECK(average.count_in(milliseconds(8), 1, 64) == 16);
  // Clamped at both ends.
  CHECK(average.count_in(milliseconds(8), 1, 10) == 10);
  CHECK(average.count_in(milliseconds(8), 20, 64) == 20);
  // Each later attempt weighs 1/8: (7 * 500 us + 4,500 us) / 8 = 1 ms.
  average.add(attempt(10'000'000, 14'500'000));
  CHECK(average.count_in(milliseconds(8), 1, 64) == 8);
  // Short attempts deepen the queue up to its cap; long ones bring it back to the low end.
  for (int i = 0; i < 64; ++i)
    average.add(attempt(0, 20'000));
  CHECK(average.count_in(milliseconds(8), 1, 64) == 64);
  for (int i = 0; i < 64; ++i)
    average.add(attempt(0, 50'000'000));
  CHECK(average.count_in(milliseconds(8), 1, 64) == 1);
}
