// test_csv_options.cpp — read_csv's csv_options and the gzip / standard-input
// reading of the text readers (io_detail::read_whole_input).
//
// What the tests prove:
//  - CsvOptions.Delimiter: a tab delimiter (explicit, or by the .tsv extension)
//    reads the same table as commas; tabs are then not trimmed as blanks.
//  - CsvOptions.Columns: columns / ignore_columns skip cells unparsed (a text
//    column no longer fails), keep file order, and name an unknown column.
//  - CsvOptions.MissingAsNan: empty and NaN cells become NaN only when asked.
//  - CsvOptions.Gzip: a gzip-compressed file (also two members) reads as the
//    plain one; truncated or corrupt gzip data is error(parse) naming the file.
//  - CsvOptions.Zstd: the same for zstd (libzstd): one frame, two frames,
//    a .tsv.zst's tab delimiter, lines input; truncated / corrupt data.
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <chutoro/error.hpp>
#include <chutoro/io.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/parse.hpp"

namespace {

namespace fs = std::filesystem;

fs::path tmp_file(const std::string& name, const std::string& bytes) {
  const fs::path dir = fs::path(CHUTORO_TEST_TMP) / "csv_options";
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return dir / name;
}

std::string gzip_bytes(const std::string& text) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(compressBound(static_cast<uLong>(text.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string zstd_bytes(const std::string& text) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

const std::string kCsv = "id,a,name,b\n1,0.5,x,2\n2,1.5,y,-3\n3,2.5,z,4e1\n";

TEST(CsvOptions, Delimiter) {
  std::string tsv = kCsv;
  for (char& c : tsv)
    if (c == ',') c = '\t';
  chutoro::csv_options o;
  o.columns = {"a", "b"};
  const auto a = chutoro::io_detail::parse_csv(kCsv, "x.csv", std::nullopt, o);
  o.delimiter = '\t';
  const auto b = chutoro::io_detail::parse_csv(tsv, "x.tsv", std::nullopt, o);
  EXPECT_EQ(a.values, b.values);
  EXPECT_EQ(chutoro::default_delimiter("d/x.tsv"), '\t');
  EXPECT_EQ(chutoro::default_delimiter("x.TSV.gz") == '\t' || chutoro::default_delimiter("x.tsv.gz") == '\t',
            true);
  EXPECT_EQ(chutoro::default_delimiter("x.csv"), ',');
  const auto c =
      chutoro::read_csv(tmp_file("x.tsv", tsv), std::nullopt, chutoro::csv_options{0, false, {"a", "b"}, {}});
  EXPECT_EQ(c.values, a.values);
  EXPECT_EQ(chutoro::detect_format("x.tsv.gz"), chutoro::input_format::csv);
}

TEST(CsvOptions, Columns) {
  chutoro::csv_options o;
  o.columns = {"b", "a"};  // file order is kept
  const auto t = chutoro::io_detail::parse_csv(kCsv, "x.csv", std::nullopt, o);
  ASSERT_EQ(t.dim, 2u);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.values, (std::vector<float>{0.5f, 2, 1.5f, -3, 2.5f, 40}));
  chutoro::csv_options ig;
  ig.ignore_columns = {"name", "id"};
  EXPECT_EQ(chutoro::io_detail::parse_csv(kCsv, "x.csv", std::nullopt, ig).values, t.values);
  EXPECT_THROW((void)chutoro::io_detail::parse_csv(kCsv, "x.csv"), chutoro::error);  // "x" is not a number
  chutoro::csv_options bad;
  bad.columns = {"a", "zz"};
  try {
    (void)chutoro::io_detail::parse_csv(kCsv, "x.csv", std::nullopt, bad);
    ADD_FAILURE() << "unknown column accepted";
  } catch (const chutoro::error& e) {
    EXPECT_NE(std::string(e.what()).find("\"zz\", which is not in the header"), std::string::npos)
        << e.what();
  }
}

TEST(CsvOptions, MissingAsNan) {
  const std::string text = "a,b\n1,\nnan,2\n3,4\n";
  EXPECT_THROW((void)chutoro::io_detail::parse_csv(text, "m.csv"), chutoro::error);
  chutoro::csv_options o;
  o.missing_as_nan = true;
  const auto t = chutoro::io_detail::parse_csv(text, "m.csv", std::nullopt, o);
  ASSERT_EQ(t.n, 3u);
  EXPECT_TRUE(std::isnan(t.values[1]));
  EXPECT_TRUE(std::isnan(t.values[2]));
  EXPECT_EQ(t.values[5], 4.0f);
}

TEST(CsvOptions, Gzip) {
  chutoro::csv_options o;
  o.ignore_columns = {"name"};
  const auto plain = chutoro::read_csv(tmp_file("p.csv", kCsv), std::nullopt, o);
  const auto gz = chutoro::read_csv(tmp_file("p.csv.gz", gzip_bytes(kCsv)), std::nullopt, o);
  EXPECT_EQ(plain.values, gz.values);
  const std::size_t cut = kCsv.find('\n', 20) + 1;
  const auto two = chutoro::read_csv(
      tmp_file("two.csv.gz", gzip_bytes(kCsv.substr(0, cut)) + gzip_bytes(kCsv.substr(cut))), std::nullopt,
      o);
  EXPECT_EQ(two.values, plain.values);
  std::string big = "a,b\n";
  for (int i = 0; i < 5000; ++i) big += std::to_string(i % 97) + "," + std::to_string(i % 13) + "\n";
  const std::string blob = gzip_bytes(big);
  for (const auto& [name, bytes, needle] :
       {std::tuple<std::string, std::string, std::string>{"cut.csv.gz", blob.substr(0, blob.size() / 2),
                                                          "truncated"},
        {"bad.csv.gz", std::string("\x1f\x8b") + "garbage garbage garbage", "corrupt gzip data"}}) {
    try {
      (void)chutoro::read_csv(tmp_file(name, bytes));
      ADD_FAILURE() << name << " accepted";
    } catch (const chutoro::error& e) {
      EXPECT_EQ(e.code(), chutoro::error_code::parse);
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

TEST(CsvOptions, Zstd) {
  chutoro::csv_options o;
  o.ignore_columns = {"name"};
  const auto plain = chutoro::read_csv(tmp_file("p.csv", kCsv), std::nullopt, o);
  const auto zst = chutoro::read_csv(tmp_file("p.csv.zst", zstd_bytes(kCsv)), std::nullopt, o);
  EXPECT_EQ(plain.values, zst.values);
  EXPECT_EQ(plain.columns, zst.columns);
  const std::size_t cut = kCsv.find('\n', 20) + 1;
  const auto two = chutoro::read_csv(
      tmp_file("two.csv.zst", zstd_bytes(kCsv.substr(0, cut)) + zstd_bytes(kCsv.substr(cut))), std::nullopt,
      o);
  EXPECT_EQ(two.values, plain.values);
  // The magic bytes decide, not the name; .tsv.zst keeps the tab delimiter.
  EXPECT_EQ(chutoro::read_csv(tmp_file("zst_named.csv", zstd_bytes(kCsv)), std::nullopt, o).values,
            plain.values);
  std::string tsv = kCsv;
  for (char& c : tsv)
    if (c == ',') c = '\t';
  EXPECT_EQ(chutoro::default_delimiter("x.tsv.zst"), '\t');
  EXPECT_EQ(chutoro::detect_format("x.TXT.zst"), chutoro::input_format::lines);
  EXPECT_EQ(chutoro::read_csv(tmp_file("p.tsv.zst", zstd_bytes(tsv)), std::nullopt, o).values, plain.values);
  EXPECT_EQ(chutoro::read_lines(tmp_file("w.txt.zst", zstd_bytes("apple\nbanana\n"))),
            (std::vector<std::string>{"apple", "banana"}));
  // .npy files are read uncompressed: a compressed one is refused, saying so.
  for (const auto& [name, bytes] :
       {std::pair<std::string, std::string>{"x.npy.zst", zstd_bytes("\x93NUMPY..")},
        {"x.npy.gz", gzip_bytes("\x93NUMPY..")}}) {
    try {
      (void)chutoro::read_npy(tmp_file(name, bytes));
      ADD_FAILURE() << name << " accepted";
    } catch (const chutoro::error& e) {
      EXPECT_EQ(e.code(), chutoro::error_code::parse);
      EXPECT_NE(std::string(e.what()).find(name + ": the file is " +
                                           (name.ends_with(".gz") ? "gzip" : "zstd") + "-compressed"),
                std::string::npos)
          << e.what();
    }
  }
  std::string big = "a,b\n";
  for (int i = 0; i < 5000; ++i)
    big += std::to_string(i % 97) + "," + std::to_string(i * 7919 % 10007) + "\n";
  const std::string blob = zstd_bytes(big);
  ASSERT_GT(blob.size(), 64u);
  for (const auto& [name, bytes, needle] :
       {std::tuple<std::string, std::string, std::string>{"cut.csv.zst", blob.substr(0, blob.size() / 2),
                                                          "the zstd data is truncated"},
        {"cut4.csv.zst", blob.substr(0, 4), "truncated"},
        {"bad.csv.zst", std::string("\x28\xb5\x2f\xfd") + "garbage garbage garbage", "corrupt zstd data"}}) {
    try {
      (void)chutoro::read_csv(tmp_file(name, bytes));
      ADD_FAILURE() << name << " accepted";
    } catch (const chutoro::error& e) {
      EXPECT_EQ(e.code(), chutoro::error_code::parse);
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

}  // namespace
