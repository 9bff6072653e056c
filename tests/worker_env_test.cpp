#include <parallel_run/config.hpp>

#include <catch2/catch.hpp>

#include <parallel_run/command_line.hpp>
#include <parallel_run/detail/worker_protocol.hpp>

#include <chrono>
#include <csignal>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/spawn.hpp"
#include "support/temp_dir.hpp"

using namespace parallel_run;
using namespace std::chrono_literals;
using test_support::read_file;
using test_support::TempDir;
using test_support::write_file;

namespace {

const std::string driver = PARALLEL_RUN_WORKER_ENV_DRIVER;

std::vector<std::string> split_at(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep))
    out.push_back(part);
  return out;
}

// Runs worker_env_driver in `dir` with `args`, `extra_env` added to this environment; its
// exit status (128 + signal when killed), failing the test past 100 s.
int run_driver(const TempDir& dir, std::vector<std::string> args,
               const std::vector<std::string>& extra_env) {
  args.insert(args.begin(), driver);
  const pid_t pid = test_support::spawn_in(dir.path(), std::move(args), extra_env);
  REQUIRE(pid > 0);
  const std::optional<int> status = test_support::wait_for_exit(pid, 100s);
  UNSCOPED_INFO("stdout:\n"
                << read_file(dir / "stdout.txt") << "stderr:\n"
                << read_file(dir / "stderr.txt"));
  if (!status) FAIL("the job did not end within 100 s");
  return *status;
}

// "<pid> A=1 B=2" (a line of inits.txt without "init ", or a row without its key) as
// {"pid": "<pid>", "A": "1", "B": "2"}.
std::map<std::string, std::string> fields(const std::string& text) {
  std::map<std::string, std::string> m;
  const auto parts = split_at(text, ' ');
  if (parts.empty()) return m;
  m["pid"] = parts[0];
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const auto eq = parts[i].find('=');
    if (eq == std::string::npos)
      m[parts[i]] = "";
    else
      m[parts[i].substr(0, eq)] = parts[i].substr(eq + 1);
  }
  return m;
}

// The lines of inits.txt, each as fields().
std::vector<std::map<std::string, std::string>> inits(const TempDir& t) {
  std::vector<std::map<std::string, std::string>> out;
  for (const auto& line : split_at(read_file(t / "out" / "inits.txt"), '\n')) {
    REQUIRE(line.rfind("init ", 0) == 0);
    out.push_back(fields(line.substr(5)));
  }
  return out;
}

// The rows of the output, each as fields() of what follows its key, by key.
std::map<std::string, std::map<std::string, std::string>> rows(const TempDir& t) {
  std::map<std::string, std::map<std::string, std::string>> out;
  for (const auto& line : split_at(read_file(t / "out" / "parallel_run_step.txt"), '\n')) {
    const auto space = line.find(' ');
    REQUIRE(space != std::string::npos);
    out[line.substr(0, space)] = fields(line.substr(space + 1));
  }
  return out;
}

std::string validate_message(const std::vector<std::string>& worker_env,
                             Backend backend = Backend::process) {
  Config c;
  c.output_dir = "/tmp/parallel_run_worker_env_test_out";
  c.backend = backend;
  c.worker_env = worker_env;
  try {
    c.validate();
  } catch (const ConfigError& e) {
    CHECK(e.setting() == "worker_env");
    return e.what();
  }
  return "valid";
}

CommandLine parse_worker_env(std::vector<std::string> args) {
  args.insert(args.begin(), "prog");
  std::vector<const char*> argv;
  for (auto& a : args)
    argv.push_back(a.c_str());
  std::ostringstream out;
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), Config{}, "", out);
}

}  // namespace

TEST_CASE("worker_env: each worker process gets its variables, placeholders filled in",
          "[worker_env]") {
  TempDir t;
  // Items wait until both workers ran init: both start, whichever scores what.
  write_file(t / "in" / "f00.txt", "await-inits=2\n");
  write_file(t / "in" / "f01.txt", "await-inits=2\n");
  for (const char* name : {"f02.txt", "f03.txt", "f04.txt", "f05.txt"})
    write_file(t / "in" / name, "ok\n");
  const int status = run_driver(t,
                                {"--input",
                                 "in",
                                 "--output",
                                 "out",
                                 "--process-count-per-node",
                                 "2",
                                 "--worker-env",
                                 "GPU={local_worker}",
                                 "--worker_env",
                                 "W={worker}",
                                 "--worker-env",
                                 "N={node}",
                                 "--worker-env",
                                 "LIT={{x}}",
                                 "--worker-env",
                                 "MIX=a}}{node}{{b=c,d",
                                 "--worker-env",
                                 "WENV_INHERITED=new",
                                 "--",
                                 "GPU",
                                 "W",
                                 "N",
                                 "LIT",
                                 "MIX",
                                 "WENV_INHERITED",
                                 "WENV_KEPT",
                                 "WENV_UNSET"},
                                {"WENV_INHERITED=old", "WENV_KEPT=kept"});
  REQUIRE(status == 0);
  const auto init_lines = inits(t);
  REQUIRE(init_lines.size() == 2);
  std::set<std::string> gpus, workers, pids;
  for (const auto& i : init_lines) {
    gpus.insert(i.at("GPU"));
    workers.insert(i.at("W"));
    pids.insert(i.at("pid"));
    CHECK(i.at("W") == i.at("GPU"));  // node 0: worker = local_worker
    CHECK(i.at("N") == "0");
    CHECK(i.at("LIT") == "{x}");
    CHECK(i.at("MIX") == "a}0{b=c,d");
    CHECK(i.at("WENV_INHERITED") == "new");
    CHECK(i.at("WENV_KEPT") == "kept");
    CHECK(i.at("WENV_UNSET") == "(unset)");
  }
  CHECK(gpus == std::set<std::string>{"0", "1"});
  CHECK(workers == std::set<std::string>{"0", "1"});
  CHECK(pids.size() == 2);
  // Each row was scored in one of those processes, with that process's variables.
  const auto r = rows(t);
  REQUIRE(r.size() == 6);
  for (const auto& [key, row] : r) {
    CAPTURE(key);
    CHECK(row.count("gave-up") == 0);
    const auto same = std::find_if(init_lines.begin(), init_lines.end(),
                                   [&](const auto& i) { return i.at("pid") == row.at("pid"); });
    REQUIRE(same != init_lines.end());
    CHECK(row == *same);
  }
}

TEST_CASE("worker_env: a worker that replaces a crashed one takes its {local_worker}",
          "[worker_env]") {
  TempDir t;
  write_file(t / "in" / "f00.txt", "abort-once\n");
  // Waits for the replacement's init: the job cannot end before it.
  write_file(t / "in" / "f01.txt", "await-inits=3\n");
  for (const char* name : {"f02.txt", "f03.txt", "f04.txt", "f05.txt"})
    write_file(t / "in" / name, "ok\n");
  const int status = run_driver(t,
                                {"--input", "in", "--output", "out", "--process-count-per-node",
                                 "2", "--worker-env", "GPU={local_worker}", "--", "GPU"},
                                {});
  REQUIRE(status == 0);
  const auto crash = fields(split_at(read_file(t / "out" / "crash.txt"), '\n').at(0));
  const auto init_lines = inits(t);
  REQUIRE(init_lines.size() == 3);
  std::multiset<std::string> gpus;
  std::set<std::string> pids;
  for (const auto& i : init_lines) {
    gpus.insert(i.at("GPU"));
    pids.insert(i.at("pid"));
  }
  CHECK(pids.size() == 3);
  CHECK(pids.count(crash.at("pid")) == 1);
  // The crashed worker's slot twice (it and its replacement), the other one once.
  const std::string other = crash.at("GPU") == "0" ? "1" : "0";
  CHECK(gpus == std::multiset<std::string>{crash.at("GPU"), crash.at("GPU"), other});
  const auto r = rows(t);
  REQUIRE(r.size() == 6);
  CHECK(r.at("f00.txt").at("pid") != crash.at("pid"));
  CHECK(r.at("f01.txt").count("gave-up") == 0);
}

TEST_CASE("worker_env: placeholders and braces", "[worker_env]") {
  using detail::expand_worker_env_value;
  CHECK(expand_worker_env_value("A={node}/{local_worker}/{worker}", 2, 3, 11) == "2/3/11");
  CHECK(expand_worker_env_value("A={{x}}", 0, 0, 0) == "{x}");
  CHECK(expand_worker_env_value("A={{{worker}}}", 0, 1, 5) == "{5}");
  CHECK(expand_worker_env_value("A=", 0, 0, 0) == "");
  CHECK(expand_worker_env_value("A=x=y", 0, 0, 0) == "x=y");
  CHECK(expand_worker_env_value("CUDA_VISIBLE_DEVICES={local_worker}", 0, 1, 1) == "1");
}

TEST_CASE("worker_env: validate() names the setting and quotes the entry", "[worker_env]") {
  CHECK(validate_message({"GPU={local_worker}", "OMP_NUM_THREADS=1", "_x9=", "E=a=b"}) == "valid");
  CHECK(validate_message({"GPU"}) ==
        "[parallel_run.config.worker_env] worker_env entries must be NAME=VALUE, got 'GPU'");
  CHECK(validate_message({"=1"}) ==
        "[parallel_run.config.worker_env] worker_env NAME must match [A-Za-z_][A-Za-z0-9_]*, "
        "got '=1'");
  CHECK(validate_message({"1GPU=0"}) ==
        "[parallel_run.config.worker_env] worker_env NAME must match [A-Za-z_][A-Za-z0-9_]*, "
        "got '1GPU=0'");
  CHECK(validate_message({"MY-VAR=0"}) ==
        "[parallel_run.config.worker_env] worker_env NAME must match [A-Za-z_][A-Za-z0-9_]*, "
        "got 'MY-VAR=0'");
  CHECK(validate_message({"PARALLEL_RUN_WORKER=x"}) ==
        "[parallel_run.config.worker_env] worker_env may not set PARALLEL_RUN_ variables (the "
        "library's own), got 'PARALLEL_RUN_WORKER=x'");
  CHECK(validate_message({"GPU={gpu}"}) ==
        "[parallel_run.config.worker_env] worker_env placeholder '{gpu}' is unknown (known: "
        "{node}, {local_worker}, {worker}; {{ and }} for braces), got 'GPU={gpu}'");
  CHECK(validate_message({"GPU={}"}) ==
        "[parallel_run.config.worker_env] worker_env placeholder '{}' is unknown (known: "
        "{node}, {local_worker}, {worker}; {{ and }} for braces), got 'GPU={}'");
  CHECK(validate_message({"GPU={worker"}) ==
        "[parallel_run.config.worker_env] worker_env has a lone '{' (write {{ for a literal "
        "brace), got 'GPU={worker'");
  CHECK(validate_message({"GPU=worker}"}) ==
        "[parallel_run.config.worker_env] worker_env has a lone '}' (write }} for a literal "
        "brace), got 'GPU=worker}'");
  CHECK(validate_message({"GPU={local_worker}", "OMP_NUM_THREADS=1", "GPU=0"}) ==
        "[parallel_run.config.worker_env] worker_env sets GPU twice, got 'GPU={local_worker}' "
        "and 'GPU=0'");
  CHECK(validate_message({"OMP_NUM_THREADS=1"}, Backend::thread) ==
        "[parallel_run.config.worker_env] worker_env needs the process backend (--backend "
        "process): threads share one process's environment");
  CHECK(validate_message({}, Backend::thread) == "valid");
}

TEST_CASE("worker_env: --worker-env and --worker_env are repeatable", "[worker_env]") {
  const CommandLine cl =
      parse_worker_env({"--input", "in", "--output", "out", "--backend", "process", "--worker-env",
                        "CUDA_VISIBLE_DEVICES={local_worker}", "--worker_env", "OMP_NUM_THREADS=1",
                        "--worker-env", "LIST=0,1"});
  CHECK(cl.config.worker_env == std::vector<std::string>{"CUDA_VISIBLE_DEVICES={local_worker}",
                                                         "OMP_NUM_THREADS=1", "LIST=0,1"});
  CHECK(parse_worker_env({"--input", "in", "--output", "out"}).config.worker_env.empty());
}

TEST_CASE("worker_env: crosses the wire with the rest of the settings", "[worker_env]") {
  Config c;
  c.worker_env = {"GPU={local_worker}", "E="};
  c.stop_on_signals = true;
  std::string bytes;
  detail::WireWriter w(bytes);
  detail::encode(w, c);
  detail::WireReader r(bytes);
  const Config d = detail::decode_config(r);
  CHECK(d.worker_env == c.worker_env);
  CHECK(d.stop_on_signals);
  CHECK(r.done());
}
