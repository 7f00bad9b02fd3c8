// Columnar input: the C data interface column builder (always), and, in a
// build with Arrow (CHUTORO_TEST_HAVE_ARROW), Parquet and Arrow IPC files
// written here with Arrow's own C++ writers from the shared data sets:
// round trips, column projection (a huge second column is not read), null
// rows, string columns, and the CLI end to end on letter.parquet.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chutoro/arrow.hpp>
#include <chutoro/error.hpp>
#include <chutoro/io.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "test_data.hpp"

#ifdef CHUTORO_TEST_HAVE_ARROW
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/ipc/writer.h>
#include <parquet/arrow/writer.h>
#endif

namespace fs = std::filesystem;
using chutoro::error_code;

namespace {

/// A hand-built Arrow array (C data interface) that owns nothing: release is a no-op.
struct c_array {
  ArrowSchema schema{}, child_schema{};
  ArrowArray array{}, child{};
  ArrowSchema* schema_children[1] = {&child_schema};
  ArrowArray* array_children[1] = {&child};
  const void* buffers[3] = {};
  const void* child_buffers[2] = {};
  std::string format, child_format;

  void list(const std::string& fmt, std::int64_t length, const void* validity, const void* offsets,
            const std::string& value_fmt, std::int64_t values, const void* value_validity, const void* data) {
    format = fmt;
    child_format = value_fmt;
    schema.format = format.c_str();
    schema.n_children = 1;
    schema.children = schema_children;
    child_schema.format = child_format.c_str();
    array.length = length;
    array.null_count = validity ? -1 : 0;
    array.n_buffers = fmt[1] == 'w' ? 1 : 2;
    buffers[0] = validity;
    buffers[1] = offsets;
    array.buffers = buffers;
    array.n_children = 1;
    array.children = array_children;
    child.length = values;
    child.null_count = value_validity ? -1 : 0;
    child.n_buffers = 2;
    child_buffers[0] = value_validity;
    child_buffers[1] = data;
    child.buffers = child_buffers;
  }
};

template <class F>
void expect_error(F&& f, error_code code, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected " << needle;
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ArrowColumns, FixedSizeListFloat32WithOffsetAndChunks) {
  const float values[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  c_array a;
  a.list("+w:3", 2, nullptr, nullptr, "f", 9, nullptr, values);
  a.array.offset = 1;  // rows 1 and 2 of the underlying 3
  chutoro::arrow_column_builder b("X");
  b.append(a.schema, a.array);
  b.append(a.schema, a.array);
  const chutoro::column_data c = std::move(b).finish("vec");
  ASSERT_EQ(c.type, chutoro::column_data::kind::dense);
  EXPECT_EQ(c.name, "vec");
  EXPECT_EQ(c.dense.n, 4u);
  EXPECT_EQ(c.dense.dim, 3u);
  EXPECT_EQ(c.dense.values, (std::vector<float>{3, 4, 5, 6, 7, 8, 3, 4, 5, 6, 7, 8}));
}

TEST(ArrowColumns, ListFloat64EqualLengthsAndErrors) {
  const double values[] = {1, 2, 3, 4, 5, 6};
  const std::int32_t offsets[] = {0, 2, 4, 6};
  c_array a;
  a.list("+l", 3, nullptr, offsets, "g", 6, nullptr, values);
  chutoro::arrow_column_builder b("X");
  b.append(a.schema, a.array);
  const auto c = std::move(b).finish();
  EXPECT_EQ(c.dense.n, 3u);
  EXPECT_EQ(c.dense.dim, 2u);
  EXPECT_EQ(c.dense.values, (std::vector<float>{1, 2, 3, 4, 5, 6}));

  const std::int32_t ragged[] = {0, 2, 3, 6};
  a.list("+l", 3, nullptr, ragged, "g", 6, nullptr, values);
  expect_error([&] { chutoro::arrow_column_builder("X").append(a.schema, a.array); }, error_code::parse,
               "X: row 1 has 1 values, row 0 has 2");

  const std::uint8_t row1_null = 0b101;
  a.list("+l", 3, &row1_null, offsets, "g", 6, nullptr, values);
  expect_error([&] { chutoro::arrow_column_builder("X").append(a.schema, a.array); }, error_code::parse,
               "X: row 1 is null");

  const std::uint8_t value3_null = 0b110111;
  a.list("+l", 3, nullptr, offsets, "g", 6, &value3_null, values);
  expect_error([&] { chutoro::arrow_column_builder("X").append(a.schema, a.array); }, error_code::parse,
               "X: row 1, value 1 is null");

  const double bad[] = {1, 2, 3, NAN, 5, 1e300};
  a.list("+l", 3, nullptr, offsets, "g", 6, nullptr, bad);
  expect_error([&] { chutoro::arrow_column_builder("X").append(a.schema, a.array); }, error_code::parse,
               "X: row 1, value 1 is NaN");

  const std::int32_t ints[] = {1, 2};
  a.list("+l", 1, nullptr, offsets, "i", 2, nullptr, ints);
  expect_error([&] { chutoro::arrow_column_builder("X").append(a.schema, a.array); },
               error_code::type_mismatch, "float32 or float64");
  expect_error([&] { (void)chutoro::arrow_column_builder("X").finish(); }, error_code::parse, "no rows");
}

TEST(ArrowColumns, StringsAndUnsupportedTypes) {
  const char data[] = "helloworld!";
  const std::int32_t offsets[] = {0, 5, 10, 10, 11};
  const std::uint8_t validity = 0b1011;  // row 2 null
  ArrowSchema s{};
  s.format = "u";
  ArrowArray a{};
  const void* buffers[3] = {nullptr, offsets, data};
  a.length = 4;
  a.n_buffers = 3;
  a.buffers = buffers;
  chutoro::arrow_column_builder b("X");
  b.append(s, a);
  const auto c = std::move(b).finish("w");
  ASSERT_EQ(c.type, chutoro::column_data::kind::strings);
  EXPECT_EQ(c.strings, (std::vector<std::string>{"hello", "world", "", "!"}));
  buffers[0] = &validity;
  a.null_count = 1;
  expect_error([&] { chutoro::arrow_column_builder("X").append(s, a); }, error_code::parse,
               "X: row 2 is null");
  s.format = "i";
  expect_error([&] { chutoro::arrow_column_builder("X").append(s, a); }, error_code::type_mismatch,
               "column type 'i' is not supported");
}

fs::path tmp_dir() {
  const fs::path d = fs::path(CHUTORO_TEST_TMP) / "arrow";
  fs::create_directories(d);
  return d;
}

#ifndef CHUTORO_TEST_HAVE_ARROW

TEST(ArrowFiles, NotBuiltIsAClearError) {
  EXPECT_FALSE(chutoro::arrow_files_supported());
  expect_error([] { (void)chutoro::read_parquet("x.parquet"); }, error_code::unsupported,
               "Parquet support was not built");
  expect_error([] { (void)chutoro::read_arrow_ipc("x.arrow"); }, error_code::unsupported,
               "Arrow IPC support was not built");
  expect_error([] { (void)chutoro::read_parquet_part("x.parquet", std::nullopt, 0, 2); },
               error_code::unsupported, "Parquet support was not built");
  expect_error([] { (void)chutoro::read_arrow_ipc_part("x.arrow", std::nullopt, 1, 2); },
               error_code::unsupported, "Arrow IPC support was not built");
}

#else

#define ARROW_OK(expr) ASSERT_TRUE((expr).ok()) << (expr).ToString()

std::shared_ptr<arrow::Array> fixed_list(const std::vector<float>& values, std::size_t dim) {
  arrow::FloatBuilder fb;
  EXPECT_TRUE(fb.AppendValues(values).ok());
  std::shared_ptr<arrow::Array> flat = fb.Finish().ValueOrDie();
  return arrow::FixedSizeListArray::FromArrays(flat, static_cast<std::int32_t>(dim)).ValueOrDie();
}

void write_parquet(const std::shared_ptr<arrow::Table>& t, const fs::path& path,
                   std::int64_t chunk = 1 << 20) {
  auto out = arrow::io::FileOutputStream::Open(path.string()).ValueOrDie();
  ASSERT_TRUE(parquet::arrow::WriteTable(*t, arrow::default_memory_pool(), out, chunk).ok());
  ASSERT_TRUE(out->Close().ok());
}

void write_ipc(const std::shared_ptr<arrow::Table>& t, const fs::path& path, bool stream) {
  auto out = arrow::io::FileOutputStream::Open(path.string()).ValueOrDie();
  auto w = stream ? arrow::ipc::MakeStreamWriter(out, t->schema()).ValueOrDie()
                  : arrow::ipc::MakeFileWriter(out, t->schema()).ValueOrDie();
  ASSERT_TRUE(w->WriteTable(*t, 4096).ok());
  ASSERT_TRUE(w->Close().ok());
  ASSERT_TRUE(out->Close().ok());
}

/// Bytes this process has read through read()/pread() so far (/proc/self/io rchar).
std::uint64_t bytes_read() {
  std::ifstream io("/proc/self/io");
  std::string key;
  std::uint64_t v = 0;
  while (io >> key >> v)
    if (key == "rchar:") return v;
  return 0;
}

class ArrowFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    letter_ = new chutoro::dense_table(chutoro::read_csv(chutoro_test::data_path("letter.csv"), "label"));
  }
  static void TearDownTestSuite() { delete letter_; }
  static chutoro::dense_table* letter_;
};
chutoro::dense_table* ArrowFiles::letter_ = nullptr;

TEST_F(ArrowFiles, LetterParquetAndIpcRoundTrip) {
  EXPECT_TRUE(chutoro::arrow_files_supported());
  const auto& L = *letter_;
  arrow::StringBuilder sb;
  for (const auto& l : L.labels) ASSERT_TRUE(sb.Append(l).ok());
  auto table = arrow::Table::Make(
      arrow::schema(
          {arrow::field("features", arrow::fixed_size_list(arrow::float32(), static_cast<int>(L.dim))),
           arrow::field("label", arrow::utf8())}),
      {fixed_list(L.values, L.dim), sb.Finish().ValueOrDie()});
  const fs::path pq = tmp_dir() / "letter.parquet", ipc = tmp_dir() / "letter.arrow",
                 st = tmp_dir() / "letter.arrows";
  write_parquet(table, pq, 5000);  // four row groups: several chunks
  write_ipc(table, ipc, false);
  write_ipc(table, st, true);
  for (const auto& path : {pq, ipc, st}) {
    const chutoro::column_data c =
        path == pq ? chutoro::read_parquet(path, "features") : chutoro::read_arrow_ipc(path, "features");
    ASSERT_EQ(c.type, chutoro::column_data::kind::dense) << path;
    EXPECT_EQ(c.dense.n, L.n);
    EXPECT_EQ(c.dense.dim, L.dim);
    EXPECT_EQ(c.dense.values, L.values) << path;
    const chutoro::column_data labels =
        path == pq ? chutoro::read_parquet(path, "label") : chutoro::read_arrow_ipc(path, "label");
    EXPECT_EQ(labels.strings, L.labels) << path;
  }
  expect_error([&] { (void)chutoro::read_parquet(pq); }, error_code::invalid_argument,
               "2 columns; name the one to cluster with --column (columns: features, label)");
  expect_error([&] { (void)chutoro::read_parquet(pq, "nope"); }, error_code::invalid_argument,
               "no column \"nope\"");
  expect_error([&] { (void)chutoro::read_parquet(tmp_dir() / "missing.parquet"); }, error_code::io,
               "missing.parquet: cannot open file");
  expect_error([&] { (void)chutoro::read_parquet(chutoro_test::data_path("letter.csv")); }, error_code::parse,
               "not a readable Parquet file");
  expect_error([&] { (void)chutoro::read_arrow_ipc(chutoro_test::data_path("letter.csv")); },
               error_code::parse, "not an Arrow IPC file or stream");
}

TEST_F(ArrowFiles, ParquetProjectionDoesNotReadTheHugeColumn) {
  // Column "small": 2,000 x 4 floats (32 KB). Column "huge": 2,000 x 4,096 random
  // floats (32 MB, incompressible). Reading "small" must not read "huge".
  const std::size_t n = 2000, big = 4096;
  std::vector<float> small(n * 4), huge(n * big);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : small) v = u(rng);
  for (auto& v : huge) v = u(rng);
  auto table = arrow::Table::Make(
      arrow::schema({arrow::field("small", arrow::fixed_size_list(arrow::float32(), 4)),
                     arrow::field("huge", arrow::fixed_size_list(arrow::float32(), static_cast<int>(big)))}),
      {fixed_list(small, 4), fixed_list(huge, big)});
  const fs::path pq = tmp_dir() / "projection.parquet";
  write_parquet(table, pq);
  huge = {};
  table.reset();
  const auto file_size = fs::file_size(pq);
  ASSERT_GT(file_size, 30u << 20);
  const std::uint64_t before = bytes_read();
  const chutoro::column_data c = chutoro::read_parquet(pq, "small");
  const std::uint64_t read = bytes_read() - before;
  EXPECT_EQ(c.dense.values, small);
  EXPECT_LT(read, 2u << 20) << "read " << read << " bytes of a " << file_size << "-byte file";
  std::printf("projection: read %llu of %llu bytes\n", static_cast<unsigned long long>(read),
              static_cast<unsigned long long>(file_size));
}

TEST_F(ArrowFiles, NullRowsAreRejectedNamingTheRow) {
  // list<float64> with row 7 null, and a second file with a null value in row 3.
  arrow::ListBuilder lb(arrow::default_memory_pool(), std::make_shared<arrow::DoubleBuilder>());
  auto* vb = static_cast<arrow::DoubleBuilder*>(lb.value_builder());
  for (int r = 0; r < 10; ++r) {
    if (r == 7) {
      ARROW_OK(lb.AppendNull());
      continue;
    }
    ARROW_OK(lb.Append());
    ARROW_OK(vb->AppendValues({1.0 * r, 2.0 * r}));
  }
  auto nulls = arrow::Table::Make(arrow::schema({arrow::field("x", arrow::list(arrow::float64()))}),
                                  {lb.Finish().ValueOrDie()});
  const fs::path pq = tmp_dir() / "null_row.parquet";
  write_parquet(nulls, pq);
  expect_error([&] { (void)chutoro::read_parquet(pq); }, error_code::parse,
               "null_row.parquet: column \"x\": row 7 is null");

  arrow::ListBuilder lb2(arrow::default_memory_pool(), std::make_shared<arrow::DoubleBuilder>());
  auto* vb2 = static_cast<arrow::DoubleBuilder*>(lb2.value_builder());
  for (int r = 0; r < 5; ++r) {
    ARROW_OK(lb2.Append());
    ARROW_OK(vb2->Append(1.0));
    if (r == 3) {
      ARROW_OK(vb2->AppendNull());
    } else {
      ARROW_OK(vb2->Append(2.0));
    }
  }
  auto null_value = arrow::Table::Make(arrow::schema({arrow::field("x", arrow::list(arrow::float64()))}),
                                       {lb2.Finish().ValueOrDie()});
  const fs::path ipc = tmp_dir() / "null_value.arrow";
  write_ipc(null_value, ipc, false);
  expect_error([&] { (void)chutoro::read_arrow_ipc(ipc); }, error_code::parse, "row 3, value 1 is null");
  // Without nulls the same list<float64> column reads as dense.
  const fs::path ok = tmp_dir() / "list_ok.parquet";
  auto sliced = arrow::Table::Make(nulls->schema(), {nulls->column(0)->Slice(0, 7)});
  write_parquet(sliced, ok);
  const auto c = chutoro::read_parquet(ok);
  EXPECT_EQ(c.dense.n, 7u);
  EXPECT_EQ(c.dense.dim, 2u);
  EXPECT_EQ(c.dense.values[13], 12.0f);
}

TEST_F(ArrowFiles, PartsReadOnlyTheChunksHoldingTheirRows) {
  // letter: 20,000 x 16 in Parquet row groups of 3,000 (7 groups), an IPC
  // file in batches of 4,096 (5) and an IPC stream (read whole, then cut).
  const auto& L = *letter_;
  std::vector<float> values = L.values;
  values[15001 * L.dim + 2] = std::nanf("");  // row 15001: the last of 3 parts
  auto table = arrow::Table::Make(
      arrow::schema({arrow::field("x", arrow::fixed_size_list(arrow::float32(), static_cast<int>(L.dim)))}),
      {fixed_list(values, L.dim)});
  const fs::path pq = tmp_dir() / "parts.parquet", ipc = tmp_dir() / "parts.arrow",
                 st = tmp_dir() / "parts.arrows";
  write_parquet(table, pq, 3000);
  write_ipc(table, ipc, false);
  // The stream is read whole by every part, so its rows are clean here.
  write_ipc(arrow::Table::Make(table->schema(), {fixed_list(L.values, L.dim)}), st, true);
  const auto read = [&](const fs::path& path, std::size_t part, std::size_t parts) {
    return path == pq ? chutoro::read_parquet_part(path, "x", part, parts)
                      : chutoro::read_arrow_ipc_part(path, "x", part, parts);
  };
  for (const auto& path : {pq, ipc, st}) {
    // Parts 0 and 1 of 3 (rows [0, 6666) and [6666, 13333)), and part 0 of 1 up to the NaN.
    std::vector<float> got;
    for (std::size_t part = 0; part < 2; ++part) {
      const chutoro::column_part c = read(path, part, 3);
      EXPECT_EQ(c.total_rows, L.n) << path;
      EXPECT_EQ(c.first_row, part * L.n / 3) << path;
      ASSERT_EQ(c.column.dense.n, (part + 1) * L.n / 3 - part * L.n / 3) << path;
      got.insert(got.end(), c.column.dense.values.begin(), c.column.dense.values.end());
      if (path == pq) {
        EXPECT_EQ(c.chunks_total, 7u);
        EXPECT_EQ(c.chunks_read, 3u) << "rows 0..6665: groups 0-2; 6666..13332: groups 2-4";
      } else if (path == ipc) {
        EXPECT_EQ(c.chunks_total, 5u);
        EXPECT_EQ(c.chunks_read, part == 0 ? 2u : 3u)
            << "rows 0..6665: batches 0-1; 6666..13332: batches 1-3";
      } else {
        EXPECT_EQ(c.chunks_read, 1u) << "a stream is read whole";
      }
    }
    EXPECT_EQ(got,
              std::vector<float>(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(got.size())))
        << path;
    // The NaN is named by its row in the whole file.
    if (path != st)
      expect_error([&] { (void)read(path, 2, 3); }, error_code::parse,
                   "column \"x\": row 15001, value 2 is NaN");
    // More parts than rows: an empty part.
    EXPECT_EQ(read(path, 0, 40000).column.size(), 0u) << path;
    expect_error([&] { (void)read(path, 3, 3); }, error_code::invalid_argument, "part 3 of 3 does not exist");
  }
}

TEST_F(ArrowFiles, StringColumnsFeedLevenshtein) {
  std::ifstream in(chutoro_test::data_path("words_en.txt"));
  std::vector<std::string> words;
  std::string w;
  while (words.size() < 3000 && std::getline(in, w)) words.push_back(w);
  arrow::LargeStringBuilder sb;
  for (const auto& x : words) ARROW_OK(sb.Append(x));
  auto table = arrow::Table::Make(arrow::schema({arrow::field("word", arrow::large_utf8())}),
                                  {sb.Finish().ValueOrDie()});
  const fs::path pq = tmp_dir() / "words.parquet";
  write_parquet(table, pq);
  const auto c = chutoro::read_parquet(pq);
  ASSERT_EQ(c.type, chutoro::column_data::kind::strings);
  EXPECT_EQ(c.strings, words);
}

#ifdef CHUTORO_CLI_PATH
std::string run(const std::string& args, int* rc) {
  const fs::path out = tmp_dir() / "cli_out.txt";
  const std::string cmd = std::string(CHUTORO_CLI_PATH) + " cluster " + args + " >" + out.string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  *rc = WEXITSTATUS(status);
  std::ifstream f(out);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST_F(ArrowFiles, CliClustersLetterParquetLikeLetterCsv) {
  const auto& L = *letter_;
  auto table = arrow::Table::Make(
      arrow::schema(
          {arrow::field("features", arrow::fixed_size_list(arrow::float32(), static_cast<int>(L.dim)))}),
      {fixed_list(L.values, L.dim)});
  const fs::path pq = tmp_dir() / "letter_only.parquet";
  write_parquet(table, pq);
  const fs::path a = tmp_dir() / "labels_parquet.csv", b = tmp_dir() / "labels_csv.csv";
  int rc = 0;
  std::string out = run(pq.string() + " --threads 1 --json --output " + a.string(), &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("\"format\":\"parquet, column features\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"n\":20000"), std::string::npos) << out;
  out = run(chutoro_test::data_path("letter.csv") + " --label-column label --threads 1 --quiet --output " +
                b.string(),
            &rc);
  ASSERT_EQ(rc, 0) << out;
  std::ifstream fa(a), fb(b);
  std::stringstream sa, sb;
  sa << fa.rdbuf();
  sb << fb.rdbuf();
  EXPECT_EQ(sa.str(), sb.str()) << "parquet and csv inputs give different clusterings";
  // --column with a non-columnar input, and a string column with a dense metric, are usage errors.
  out = run(chutoro_test::data_path("letter.csv") + " --column x", &rc);
  EXPECT_EQ(rc, 2) << out;
}
#endif  // CHUTORO_CLI_PATH

#endif  // CHUTORO_TEST_HAVE_ARROW

}  // namespace
