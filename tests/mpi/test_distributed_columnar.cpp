// `mpirun -np P chutoro cluster FILE.parquet|FILE.arrow ...` end to end
// (built with Arrow only; tests/mpi/CMakeLists.txt): each rank reads only the
// row groups (record batches) holding its rows, the rows keep the file's
// order, a file of one row group works, a string column clusters under
// jaccard, and a bad value in one rank's row group fails every rank with one
// message naming the rank and the file's row.
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/ipc/writer.h>
#include <gtest/gtest.h>
#include <parquet/arrow/writer.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "mpirun_cli.hpp"
#include "test_data.hpp"

namespace fs = std::filesystem;

namespace {

using namespace mpirun_cli;

/// A table of one fixed_size_list<float32, dim> column "x" and a string column "label".
std::shared_ptr<arrow::Table> vectors_table(const std::vector<float>& values, std::size_t dim) {
  arrow::FloatBuilder fb;
  EXPECT_TRUE(fb.AppendValues(values).ok());
  auto x = arrow::FixedSizeListArray::FromArrays(fb.Finish().ValueOrDie(), static_cast<std::int32_t>(dim))
               .ValueOrDie();
  arrow::StringBuilder sb;
  for (std::size_t i = 0; i < values.size() / dim; ++i) EXPECT_TRUE(sb.Append("r" + std::to_string(i)).ok());
  return arrow::Table::Make(
      arrow::schema({arrow::field("x", arrow::fixed_size_list(arrow::float32(), static_cast<int>(dim))),
                     arrow::field("label", arrow::utf8())}),
      {x, sb.Finish().ValueOrDie()});
}

void write_parquet(const std::shared_ptr<arrow::Table>& t, const fs::path& path, std::int64_t row_group) {
  auto out = arrow::io::FileOutputStream::Open(path.string()).ValueOrDie();
  ASSERT_TRUE(parquet::arrow::WriteTable(*t, arrow::default_memory_pool(), out, row_group).ok());
  ASSERT_TRUE(out->Close().ok());
}

void write_arrow_file(const std::shared_ptr<arrow::Table>& t, const fs::path& path, std::int64_t batch) {
  auto out = arrow::io::FileOutputStream::Open(path.string()).ValueOrDie();
  auto w = arrow::ipc::MakeFileWriter(out, t->schema()).ValueOrDie();
  ASSERT_TRUE(w->WriteTable(*t, batch).ok());
  ASSERT_TRUE(w->Close().ok());
  ASSERT_TRUE(out->Close().ok());
}

/// The JSON array after "read_per_rank": in `out`, e.g. "[3,4]".
std::string chunks_read(const std::string& out) {
  const std::size_t at = out.find("\"read_per_rank\":");
  if (at == std::string::npos) return "(none)";
  return out.substr(at + 16, out.find(']', at) - at - 15);
}

}  // namespace

TEST(DistributedColumnar, RowGroupsSplitAcrossRanksKeepTheOneProcessResult) {
  // 700 x 3 blobs. overlap = P: every shard holds every item, so the result is
  // the one-process fit's exactly: a row lost, doubled or out of order shows.
  const fs::path dir = tmp_dir();
  const auto d = chutoro_test::make_blobs(700, 3, 4, 0.05, 31);
  const auto table = vectors_table(d.values, 3);
  write_parquet(table, dir / "groups.parquet", 80);  // 9 row groups
  write_parquet(table, dir / "one_group.parquet", 1 << 20);
  write_arrow_file(table, dir / "batches.arrow", 100);  // 7 record batches
  const std::string opts = " --column x --candidates hnsw --min-cluster-size 8 --threads 1 --output ";
  ASSERT_EQ(
      run(cli + " cluster " + (dir / "one_group.parquet").string() + opts + (dir / "one.csv").string(), dir)
          .status,
      0);
  const std::string one = slurp(dir / "one.csv");
  ASSERT_EQ(std::count(one.begin(), one.end(), '\n'), 701);
  struct expectation {
    std::string file;
    int np;
    std::string read;  // row groups / batches each rank read
  };
  for (const expectation& e :
       {expectation{"groups.parquet", 2, "[5,5]"}, expectation{"groups.parquet", 4, "[3,3,3,3]"},
        expectation{"one_group.parquet", 2, "[1,1]"}, expectation{"batches.arrow", 2, "[4,4]"},
        expectation{"batches.arrow", 4, "[2,3,3,2]"}}) {
    const fs::path out = dir / "np.csv";
    const run_result r = run(mpirun(e.np) + cli + " cluster " + (dir / e.file).string() +
                                 " --json --overlap " + std::to_string(e.np) + opts + out.string(),
                             dir);
    ASSERT_EQ(r.status, 0) << e.file << " np " << e.np << ": " << r.err;
    EXPECT_EQ(chunks_read(r.out), e.read) << e.file << " np " << e.np << ": " << r.out;
    EXPECT_EQ(slurp(out), one) << e.file << " np " << e.np;
    fs::remove(out);
  }
}

TEST(DistributedColumnar, StringColumnUnderJaccard) {
  // Token lines of 4 topics in a string column of 6 row groups; each rank
  // numbers its own tokens, items move as tokens.
  const fs::path dir = tmp_dir();
  std::mt19937_64 rng(5);
  arrow::StringBuilder sb;
  for (int i = 0; i < 480; ++i) {
    std::string line;
    for (int k = 0; k < 5; ++k) line += "t" + std::to_string(i % 4) + "w" + std::to_string(rng() % 12) + " ";
    ASSERT_TRUE(sb.Append(line + "rare" + std::to_string(rng() % 150)).ok());
  }
  const auto t =
      arrow::Table::Make(arrow::schema({arrow::field("doc", arrow::utf8())}), {sb.Finish().ValueOrDie()});
  write_parquet(t, dir / "docs.parquet", 80);
  const std::string opts = " --metric jaccard --candidates hnsw --min-cluster-size 10 --threads 1 --output ";
  ASSERT_EQ(run(cli + " cluster " + (dir / "docs.parquet").string() + opts + (dir / "one.csv").string(), dir)
                .status,
            0);
  const run_result r = run(mpirun(2) + cli + " cluster " + (dir / "docs.parquet").string() + " --json" +
                               opts + (dir / "np2.csv").string(),
                           dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\"metric\":\"jaccard\""), std::string::npos) << r.out;
  EXPECT_EQ(chunks_read(r.out), "[3,3]") << r.out;
  EXPECT_EQ(slurp(dir / "np2.csv"), slurp(dir / "one.csv"))
      << "overlap 2 at P = 2: every shard holds every line";
}

TEST(DistributedColumnar, ABadRowGroupOnOneRankStopsEveryRank) {
  const fs::path dir = tmp_dir();
  auto d = chutoro_test::make_blobs(400, 3, 3, 0.0, 9);
  d.values[350 * 3 + 1] = std::nanf("");  // row 350: rank 1's row groups
  write_parquet(vectors_table(d.values, 3), dir / "bad.parquet", 50);
  const fs::path out = dir / "labels.csv";
  const run_result r = run(
      mpirun(2) + cli + " cluster " + (dir / "bad.parquet").string() + " --column x --output " + out.string(),
      dir);
  EXPECT_EQ(r.status, 1) << r.err;
  int ours = 0;
  std::istringstream lines(r.err);
  for (std::string l; std::getline(lines, l);) ours += l.rfind("chutoro: error:", 0) == 0;
  EXPECT_EQ(ours, 1) << r.err;
  EXPECT_NE(r.err.find("chutoro: error: rank 1: " + (dir / "bad.parquet").string() +
                       ": column \"x\": row 350, value 1 is NaN"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(out));
}
