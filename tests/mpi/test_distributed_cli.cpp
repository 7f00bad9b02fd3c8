// `mpirun -np P chutoro cluster ...` end to end (CHUTORO_CLI_PATH under
// CHUTORO_MPIEXEC): agreement with the one-process CLI on the shared data,
// one message and no output file when a rank fails (bad values in its part
// of the file) or when the ranks were given different options.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <zstd.h>

#include <chutoro/scores.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "mpirun_cli.hpp"
#include "test_data.hpp"

namespace fs = std::filesystem;

namespace {

using namespace mpirun_cli;

std::vector<std::int32_t> labels_of(const fs::path& csv) {
  std::vector<std::int32_t> labels;
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) labels.push_back(std::stoi(line.substr(0, line.find(','))));
  return labels;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) v.push_back(l);
  return v;
}

}  // namespace

TEST(DistributedCli, AgreesWithOneProcessOnNpyAndCsv) {
  const fs::path dir = tmp_dir();
  const std::string npy = chutoro_test::data_path("clusterable_data.npy");
  const run_result one =
      run(cli + " cluster --candidates hnsw " + npy + " --quiet --output " + (dir / "one.csv").string(), dir);
  ASSERT_EQ(one.status, 0) << one.err;
  for (int np : {2, 4}) {
    const fs::path out = dir / ("np" + std::to_string(np) + ".csv");
    const run_result r = run(mpirun(np) + cli + " cluster --candidates hnsw " + npy +
                                 " --threads 1 --json --output " + out.string(),
                             dir);
    ASSERT_EQ(r.status, 0) << r.err;
    const std::vector<std::int32_t> a = labels_of(dir / "one.csv"), b = labels_of(out);
    ASSERT_EQ(a.size(), 2309u);
    ASSERT_EQ(b.size(), a.size());
    EXPECT_GE(chutoro::adjusted_rand_index(a, b), 0.98) << np;
    EXPECT_NE(r.out.find("\"distributed\":{\"ranks\":" + std::to_string(np)), std::string::npos) << r.out;
    EXPECT_EQ(lines_of(r.out).size(), 1u) << "one summary, from rank 0: " << r.out;
  }
  // CSV: every rank reads the file and keeps its rows; the label column scores rank 0's result.
  const std::string csv = chutoro_test::data_path("digits.csv");
  const std::string opts = " --label-column label --min-cluster-size 10 --threads 1 --output ";
  ASSERT_EQ(
      run(cli + " cluster --candidates hnsw " + csv + opts + (dir / "one_digits.csv").string(), dir).status,
      0);
  const run_result r = run(
      mpirun(4) + cli + " cluster --candidates hnsw " + csv + opts + (dir / "np4_digits.csv").string(), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("ARI / AMI"), std::string::npos) << r.out;
  EXPECT_GE(
      chutoro::adjusted_rand_index(labels_of(dir / "one_digits.csv"), labels_of(dir / "np4_digits.csv")),
      0.98);
}

TEST(DistributedCli, TextLinesUnderLevenshtein) {
  const fs::path dir = tmp_dir();
  // Every 80th word of the shared word list.
  std::ifstream in(chutoro_test::data_path("words_en.txt"));
  std::ofstream words(dir / "words.txt");
  std::size_t k = 0;
  for (std::string line; std::getline(in, line); ++k)
    if (k % 80 == 0) words << line << "\n";
  words.close();
  const std::string opts = " --min-cluster-size 10 --min-samples 5 --threads 1 --quiet --output ";
  ASSERT_EQ(run(cli + " cluster --candidates hnsw " + (dir / "words.txt").string() + opts +
                    (dir / "one.csv").string(),
                dir)
                .status,
            0);
  const run_result r = run(mpirun(2) + cli + " cluster --candidates hnsw " + (dir / "words.txt").string() +
                               opts + (dir / "np2.csv").string(),
                           dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto a = labels_of(dir / "one.csv"), b = labels_of(dir / "np2.csv");
  ASSERT_EQ(a.size(), (k + 79) / 80);
  EXPECT_EQ(a, b) << "overlap 2 at P = 2: every shard holds every word";
  // A metric of vectors for text: refused by every rank, one message.
  const run_result m = run(mpirun(2) + cli + " cluster --candidates hnsw " + (dir / "words.txt").string() +
                               " --metric hamming" + opts + (dir / "hamming.csv").string(),
                           dir);
  EXPECT_EQ(m.status, 1);
  EXPECT_NE(m.err.find("chutoro: error: rank 0: --metric hamming is not distributed for lines (strings); "
                       "choose levenshtein or jaccard"),
            std::string::npos)
      << m.err;
}

TEST(DistributedCli, TokenSetsAndBitVectors) {
  // Token lines under jaccard (each rank numbers its own tokens; items move
  // as tokens) and 0/1 rows under hamming and tanimoto (bit vectors), P = 2
  // with overlap 2: every shard holds every item, so the output is the
  // one-process output byte for byte.
  const fs::path dir = tmp_dir();
  {
    std::ofstream f(dir / "docs.txt");
    for (int i = 0; i < 400; ++i) {
      for (int k = 0; k < 5; ++k) f << "t" << i % 4 << "w" << (i * 7 + k * 5) % 13 << " ";
      f << "rare" << (i * 31) % 97 << "\n";
    }
    std::ofstream b(dir / "bits.csv");
    for (int j = 0; j < 40; ++j) b << (j ? "," : "") << "b" << j;
    b << "\n";
    for (int i = 0; i < 400; ++i)
      for (int j = 0; j < 40; ++j)  // 4 prototypes, 2 bits flipped per row
        b << (((j * (i % 4 + 3)) % 7 < 3) != (j == (i * 11) % 40 || j == (i * 17 + 5) % 40))
          << (j < 39 ? "," : "\n");
  }
  const std::string opts = " --candidates hnsw --min-cluster-size 10 --threads 1 --output ";
  for (const std::string args :
       {"docs.txt --metric jaccard", "bits.csv --metric hamming", "bits.csv --metric tanimoto"}) {
    ASSERT_EQ(run(cli + " cluster " + (dir / args).string() + opts + (dir / "one.csv").string(), dir).status,
              0)
        << args;
    const run_result r = run(
        mpirun(2) + cli + " cluster " + (dir / args).string() + " --json" + opts + (dir / "np2.csv").string(),
        dir);
    ASSERT_EQ(r.status, 0) << args << ": " << r.err;
    EXPECT_NE(r.out.find("\"distributed\":{\"ranks\":2"), std::string::npos) << r.out;
    EXPECT_EQ(slurp(dir / "np2.csv"), slurp(dir / "one.csv")) << args;
  }
  // A value other than 0/1 in rank 1's rows: every rank stops, one message naming the rank and the row.
  {
    std::ofstream b(dir / "bad_bits.csv");
    b << "b0,b1,b2\n";
    for (int i = 0; i < 100; ++i) b << i % 2 << "," << (i == 70 ? 2 : 1) << ",0\n";
  }
  const run_result bad = run(mpirun(2) + cli + " cluster " + (dir / "bad_bits.csv").string() +
                                 " --metric hamming --output " + (dir / "bad.csv").string(),
                             dir);
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(lines_of(bad.err).size() > 0 ? bad.err.find("chutoro: error:") : 0, 0u) << bad.err;
  EXPECT_EQ(bad.err.find("chutoro: error:", 1), std::string::npos) << "one message: " << bad.err;
  EXPECT_NE(bad.err.find("chutoro: error: rank 1: " + (dir / "bad_bits.csv").string() + ": "),
            std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("row 70, column 1 is 2"), std::string::npos)
      << "the input's row, as one process names it: " << bad.err;
  EXPECT_FALSE(fs::exists(dir / "bad.csv"));
}

TEST(DistributedCli, BadValuesInOneRanksPartStopEveryRank) {
  const fs::path dir = tmp_dir();
  const auto d = chutoro_test::make_blobs(200, 3, 3, 0.0, 9);
  std::vector<float> v = d.values;
  v[150 * 3 + 1] = std::numeric_limits<float>::quiet_NaN();  // row 150: rank 1's part of 2
  chutoro_test::save_npy_f4(dir / "bad.npy", v, 200, 3);
  const fs::path out = dir / "labels.csv";
  const run_result r = run(mpirun(2) + cli + " cluster --candidates hnsw " + (dir / "bad.npy").string() +
                               " --output " + out.string(),
                           dir);
  EXPECT_EQ(r.status, 1) << r.err;
  const auto errors = lines_of(r.err);
  ASSERT_GE(errors.size(), 1u);
  int ours = 0;
  for (const auto& l : errors) ours += l.rfind("chutoro: error:", 0) == 0;
  EXPECT_EQ(ours, 1) << r.err;
  EXPECT_NE(r.err.find("chutoro: error: rank 1: " + (dir / "bad.npy").string() +
                       ": X[150, 1] (0-based row, column) is NaN"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST(DistributedCli, RanksGivenDifferentOptionsFailBeforeWork) {
  const fs::path dir = tmp_dir();
  const std::string npy = chutoro_test::data_path("clusterable_data.npy");
  const fs::path out = dir / "labels.csv";
  const std::string common = cli + " cluster --candidates hnsw " + npy + " --output " + out.string();
  // MPMD: rank 0 and rank 1 get different command lines.
  const run_result r = run(std::string(CHUTORO_MPIEXEC) + " -np 1 " + common +
                               " --min-cluster-size 5 : -np 1 " + common + " --min-cluster-size 6",
                           dir);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(
      r.err.find("chutoro: error: rank 1: parameters or input differ from rank 0's: min_cluster_size=6 here, "
                 "but min_cluster_size=5 on rank 0"),
      std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST(DistributedCli, OneRankRunIsTheOneProcessRun) {
  const fs::path dir = tmp_dir();
  const std::string npy = chutoro_test::data_path("clusterable_data.npy");
  ASSERT_EQ(
      run(cli + " cluster --candidates hnsw " + npy + " --quiet --output " + (dir / "one.csv").string(), dir)
          .status,
      0);
  ASSERT_EQ(run(mpirun(1) + cli + " cluster --candidates hnsw " + npy + " --quiet --output " +
                    (dir / "np1.csv").string(),
                dir)
                .status,
            0);
  EXPECT_EQ(slurp(dir / "one.csv"), slurp(dir / "np1.csv"));
}

TEST(DistributedCli, ASingletonParentsEnvironmentIsNotALaunch) {
  // A process that initialised MPI as a singleton (a Python script after
  // `from mpi4py import MPI`) passes PMIX_RANK, and no launcher's size, to
  // the programs it starts: the CLI runs as one process there (a metric the
  // distributed fit refuses works), and under Slurm (SLURM_PROCID too) it
  // would be distributed.
  const fs::path dir = tmp_dir();
  const std::string npy = chutoro_test::data_path("clusterable_data.npy");
  const run_result r =
      run("env -u OMPI_COMM_WORLD_SIZE -u PMI_SIZE -u SLURM_PROCID PMIX_RANK=0 " + cli + " cluster " + npy +
              " --metric chebyshev --json --output " + (dir / "one.csv").string(),
          dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("\"distributed\""), std::string::npos) << r.out;
}

TEST(DistributedCli, TextInputsCutByByteRangesKeepEveryRowInOrder) {
  // Each rank reads only its byte range of a .csv or text file, cut at line
  // starts. With --overlap P every shard holds every item, so the result is
  // the one-process fit's exactly: a row lost, doubled or out of order shows.
  const fs::path dir = tmp_dir();
  const auto d = chutoro_test::make_blobs(400, 3, 4, 0.05, 21);
  {
    // A BOM, a quoted header, "\r\n" line ends and a final line without one.
    std::ofstream f(dir / "blobs.csv", std::ios::binary);
    f << "\xEF\xBB\xBF\"x\",\"y\",\"z\"\r\n";
    for (std::size_t i = 0; i < 400; ++i)
      f << d.values[i * 3] << "," << d.values[i * 3 + 1] << "," << d.values[i * 3 + 2]
        << (i + 1 < 400 ? "\r\n" : "");
  }
  {
    // Lone "\r", "\n" and "\r\n" line ends, and empty lines (empty items).
    std::ofstream f(dir / "words.txt", std::ios::binary);
    const char* roots[] = {"chutoro", "fishdbc", "density", "hierarchy"};
    const char* ends[] = {"\n", "\r\n", "\r"};
    for (int i = 0; i < 300; ++i) {
      std::string w = roots[i % 4];
      w[static_cast<std::size_t>(i * 7) % w.size()] = static_cast<char>('a' + i % 26);
      f << (i % 97 == 5 ? "" : w) << ends[i % 3];
    }
  }
  for (const std::string input : {"blobs.csv", "words.txt"}) {
    const std::string opts = " --min-cluster-size 8 --threads 1 --output ";
    const std::string path = (dir / input).string();
    ASSERT_EQ(run(cli + " cluster --candidates hnsw " + path + opts + (dir / "one.csv").string(), dir).status,
              0);
    for (int np : {2, 4}) {
      const fs::path out = dir / ("np" + std::to_string(np) + ".csv");
      const run_result r = run(mpirun(np) + cli + " cluster --candidates hnsw " + path +
                                   " --json --overlap " + std::to_string(np) + opts + out.string(),
                               dir);
      ASSERT_EQ(r.status, 0) << input << " np " << np << ": " << r.err;
      EXPECT_NE(r.out.find("\"input_cut_by_bytes\":true"), std::string::npos) << r.out;
      EXPECT_EQ(slurp(out), slurp(dir / "one.csv")) << input << " np " << np;
    }
  }
  // A zstd-compressed copy (no byte ranges in a compressed stream): read whole by every rank.
  {
    const std::string plain = slurp(dir / "blobs.csv");
    std::string packed(ZSTD_compressBound(plain.size()), '\0');
    const std::size_t got = ZSTD_compress(packed.data(), packed.size(), plain.data(), plain.size(), 3);
    ASSERT_FALSE(ZSTD_isError(got));
    packed.resize(got);
    std::ofstream(dir / "blobs.csv.zst", std::ios::binary) << packed;
    const std::string opts = " --min-cluster-size 8 --threads 1 --output ";
    ASSERT_EQ(run(cli + " cluster --candidates hnsw " + (dir / "blobs.csv").string() + opts +
                      (dir / "one_z.csv").string(),
                  dir)
                  .status,
              0);
    const run_result z =
        run(mpirun(2) + cli + " cluster --candidates hnsw " + (dir / "blobs.csv.zst").string() +
                " --json --overlap 2" + opts + (dir / "np2_z.csv").string(),
            dir);
    ASSERT_EQ(z.status, 0) << z.err;
    EXPECT_NE(z.out.find("\"input_cut_by_bytes\":false"), std::string::npos) << z.out;
    EXPECT_EQ(slurp(dir / "np2_z.csv"), slurp(dir / "one_z.csv"));
  }
  // A '"' after the header (quoted cells may span lines): read whole by every rank, same result.
  {
    std::ofstream f(dir / "quoted.csv", std::ios::binary);
    f << "x,y,z\n";
    for (std::size_t i = 0; i < 400; ++i)
      f << "\"" << d.values[i * 3] << "\"," << d.values[i * 3 + 1] << "," << d.values[i * 3 + 2] << "\n";
  }
  const std::string opts = " --min-cluster-size 8 --threads 1 --output ";
  ASSERT_EQ(run(cli + " cluster --candidates hnsw " + (dir / "quoted.csv").string() + opts +
                    (dir / "one_q.csv").string(),
                dir)
                .status,
            0);
  const run_result q = run(mpirun(2) + cli + " cluster --candidates hnsw " + (dir / "quoted.csv").string() +
                               " --json --overlap 2" + opts + (dir / "np2_q.csv").string(),
                           dir);
  ASSERT_EQ(q.status, 0) << q.err;
  EXPECT_NE(q.out.find("\"input_cut_by_bytes\":false"), std::string::npos) << q.out;
  EXPECT_EQ(slurp(dir / "np2_q.csv"), slurp(dir / "one_q.csv"));
  // A bad cell in the last rank's part: the message names the file's line, as one process does.
  {
    std::ofstream f(dir / "bad.csv", std::ios::binary);
    f << "x,y,z\r\n";
    for (std::size_t i = 0; i < 400; ++i)
      f << d.values[i * 3] << "," << (i == 380 ? std::string("oops") : std::to_string(d.values[i * 3 + 1]))
        << "," << d.values[i * 3 + 2] << (i % 2 ? "\r\n" : "\n");
  }
  const run_result b =
      run(mpirun(4) + cli + " cluster " + (dir / "bad.csv").string() + opts + (dir / "bad_out.csv").string(),
          dir);
  EXPECT_EQ(b.status, 1);
  EXPECT_NE(b.err.find("chutoro: error: rank 3: " + (dir / "bad.csv").string() + ": line 382, column 2"),
            std::string::npos)
      << b.err;
  EXPECT_FALSE(fs::exists(dir / "bad_out.csv"));
}
