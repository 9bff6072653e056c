// A minimal program using the library as a consumer project would: it writes three files,
// runs a scorer over them and checks the ordered output byte for byte.
#include <parallel_run/parallel_run.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::filesystem::path work = argv[1];
  std::filesystem::remove_all(work);
  std::filesystem::create_directories(work / "in");
  for (int i = 0; i < 3; ++i)
    std::ofstream(work / "in" / ("f" + std::to_string(i))) << i;
  parallel_run::Config config;
  config.output_dir = work / "out";
  config.mini_batch_size = 2;
  auto scorer = parallel_run::make_scorer([](const parallel_run::FileBatch& batch) {
    std::vector<std::string> rows;
    for (const auto& e : batch)
      rows.push_back(e.key);
    return rows;
  });
  auto result =
      parallel_run::run(config, parallel_run::FileDataset({(work / "in").string()}), scorer);
  std::ifstream in(work / "out" / "parallel_run_step.txt");
  std::stringstream text;
  text << in.rdbuf();
  if (!result.succeeded || text.str() != "f0\nf1\nf2\n") {
    std::cerr << "unexpected: " << result.summary() << "\n" << text.str();
    return 1;
  }
  std::cout << "consumer ok: " << result.summary() << "\n";
  return 0;
}
