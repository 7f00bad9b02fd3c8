// Tests of the input readers (CSV, NPY, lines) and the atomic result writer.
#include <gtest/gtest.h>

#include <chutoro/error.hpp>
#include <chutoro/io.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "io/io_common.hpp"

namespace fs = std::filesystem;

namespace {

/// A fresh folder per test under CHUTORO_TEST_TMP (tests may run in parallel).
fs::path test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir =
      fs::path(CHUTORO_TEST_TMP) / "io" / (std::string(info->test_suite_name()) + "." + info->name());
  static fs::path last;  // cleared once per test, on first use
  if (dir != last) {
    fs::remove_all(dir);
    last = dir;
  }
  fs::create_directories(dir);
  return dir;
}

fs::path write_file(const std::string& name, const std::string& bytes) {
  const fs::path p = test_dir() / name;
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Runs `f`, expects a chutoro::error with `code` whose message contains every string in `parts`.
void expect_error(const std::function<void()>& f, chutoro::error_code code,
                  const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const chutoro::error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(code)) << e.what();
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
  }
}

template <class T>
std::string raw_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

/// A hand-made .npy file: magic, version, header length, dict padded with
/// spaces and '\n' to a multiple of 64 bytes, then `data`.
std::string make_npy(int major, const std::string& dict, const std::string& data) {
  const std::size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const auto len = static_cast<std::uint32_t>(header.size());
  out += static_cast<char>(len & 0xFF);
  out += static_cast<char>((len >> 8) & 0xFF);
  if (major != 1) {
    out += static_cast<char>((len >> 16) & 0xFF);
    out += static_cast<char>((len >> 24) & 0xFF);
  }
  return out + header + data;
}

std::string npy_dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

using chutoro::error_code;

}  // namespace

// ---------------------------------------------------------------- detect_format

TEST(IoFormat, DetectsByExtension) {
  EXPECT_EQ(chutoro::detect_format("a/b/data.csv"), chutoro::input_format::csv);
  EXPECT_EQ(chutoro::detect_format("DATA.CSV"), chutoro::input_format::csv);
  EXPECT_EQ(chutoro::detect_format("x.npy"), chutoro::input_format::npy);
  EXPECT_EQ(chutoro::detect_format("words.txt"), chutoro::input_format::lines);
  EXPECT_EQ(chutoro::detect_format("words.lines"), chutoro::input_format::lines);
  EXPECT_EQ(chutoro::detect_format("data.parquet"), chutoro::input_format::parquet);
  EXPECT_EQ(chutoro::detect_format("data.Feather"), chutoro::input_format::arrow);
  EXPECT_EQ(chutoro::detect_format("data.arrow"), chutoro::input_format::arrow);
  expect_error([] { (void)chutoro::detect_format("data.xlsx"); }, error_code::invalid_argument,
               {"data.xlsx", ".xlsx", "--format"});
  expect_error([] { (void)chutoro::detect_format("noext"); }, error_code::invalid_argument, {"noext"});
  EXPECT_EQ(chutoro::parse_input_format("npy"), chutoro::input_format::npy);
  EXPECT_EQ(chutoro::to_string(chutoro::input_format::lines), "lines");
  expect_error([] { (void)chutoro::parse_input_format("xlsx"); }, error_code::invalid_argument, {"xlsx"});
}

// ---------------------------------------------------------------- CSV, good inputs

TEST(IoCsv, ReadsNumbersAndLabelColumn) {
  const auto p = write_file("t.csv",
                            "x,\"y, quoted\",label,z\n"
                            "1,2.5,A,-3e2\n"
                            " 4 ,\t5,\"B, \"\"big\"\"\",+6\n"
                            "\n"
                            "7,8,C,1e-50\n");
  const auto t = chutoro::read_csv(p, "label");
  EXPECT_EQ(t.n, 3u);
  EXPECT_EQ(t.dim, 3u);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"x", "y, quoted", "z"}));
  EXPECT_EQ(t.labels, (std::vector<std::string>{"A", "B, \"big\"", "C"}));
  EXPECT_EQ(t.values, (std::vector<float>{1, 2.5f, -300, 4, 5, 6, 7, 8, 0}));
}

TEST(IoCsv, WithoutLabelColumnAllColumnsAreFeatures) {
  const auto p = write_file("t.csv",
                            "\xEF\xBB\xBF"
                            "a,b\r\n1,2\r\n3,4");  // BOM, CRLF, no final newline
  const auto t = chutoro::read_csv(p);
  EXPECT_EQ(t.n, 2u);
  EXPECT_EQ(t.dim, 2u);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(t.labels.empty());
  EXPECT_EQ(t.values, (std::vector<float>{1, 2, 3, 4}));
}

TEST(IoCsv, QuotedCellSpanningLinesKeepsLineNumbers) {
  const auto good = write_file("good.csv", "v,label\n1,\"two\nlines\"\n2,x\n");
  const auto t = chutoro::read_csv(good, "label");
  EXPECT_EQ(t.labels, (std::vector<std::string>{"two\nlines", "x"}));
  // Line 5 as an editor counts it: the quoted cell spans lines 2 and 3.
  const auto bad = write_file("bad.csv", "v,label\n1,\"two\nlines\"\n2,x\nbad,y\n");
  expect_error([&] { (void)chutoro::read_csv(bad, "label"); }, error_code::parse,
               {"bad.csv", "line 5", "column 1", "\"v\"", "\"bad\""});
}

TEST(IoCsv, PandasDefaultHeaderIsAccepted) {
  const auto p = write_file("t.csv", "0,1,2\n1,2,3\n");
  const auto t = chutoro::read_csv(p);
  EXPECT_EQ(t.n, 1u);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"0", "1", "2"}));
}

TEST(IoCsv, ReadsSharedLetterData) {
  const fs::path p = fs::path(CHUTORO_DATA_DIR) / "letter.csv";
  if (!fs::exists(p)) GTEST_SKIP() << p << " missing";
  const auto t = chutoro::read_csv(p, "label");
  EXPECT_EQ(t.n, 20000u);
  EXPECT_EQ(t.dim, 16u);
  EXPECT_EQ(t.values.size(), 20000u * 16u);
  EXPECT_EQ(t.labels.front(), "T");
  EXPECT_EQ(t.columns.front(), "x_box");
  EXPECT_EQ(t.values[0], 2.0f);
}

// ---------------------------------------------------------------- CSV, bad inputs

TEST(IoCsv, MissingFile) {
  const fs::path p = test_dir() / "does_not_exist.csv";
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::io, {p.string(), "cannot open"});
}

TEST(IoCsv, DirectoryIsNotAFile) {
  const fs::path p = test_dir();
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::io, {p.string(), "directory"});
}

TEST(IoCsv, UnreadableFile) {
  const auto p = write_file("secret.csv", "a\n1\n");
  fs::permissions(p, fs::perms::none);
  std::ifstream probe(p);
  if (probe.good()) GTEST_SKIP() << "running with privileges that read a mode-000 file";
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::io, {"secret.csv", "cannot open"});
}

TEST(IoCsv, EmptyFile) {
  const auto p = write_file("empty.csv", "");
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::parse, {"empty.csv", "empty input"});
}

TEST(IoCsv, HeaderOnly) {
  const auto p = write_file("header.csv", "a,b,label\n\n");
  expect_error([&] { (void)chutoro::read_csv(p, "label"); }, error_code::parse,
               {"header.csv", "empty input", "no data rows"});
}

TEST(IoCsv, MissingHeader) {
  const auto p = write_file("nohdr.csv", "1.5,2\n3,4\n");
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::parse, {"nohdr.csv", "line 1", "header"});
}

TEST(IoCsv, NaNValue) {
  const auto p = write_file("nan.csv", "a,b\n1,2\n3,NaN\n");
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::parse,
               {"nan.csv", "line 3", "column 2", "\"b\"", "NaN"});
}

TEST(IoCsv, NanStringLowercase) {
  const auto p = write_file("nan2.csv", "a,b\n1,nan\n");
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::parse,
               {"nan2.csv", "line 2", "column 2", "NaN"});
}

TEST(IoCsv, InfValue) {
  const auto p = write_file("inf.csv", "a,b\n-inf,1\n");
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::parse,
               {"inf.csv", "line 2", "column 1", "\"a\"", "infinite"});
}

TEST(IoCsv, InfinityString) {
  const auto p = write_file("inf2.csv", "a,b\n1,2\n\n1,Infinity\n");
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::parse,
               {"inf2.csv", "line 4", "column 2", "infinite"});
}

TEST(IoCsv, OverflowsFloat32) {
  const auto p = write_file("big.csv", "a\n1e39\n");
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::parse, {"big.csv", "line 2", "float32"});
}

TEST(IoCsv, RaggedRowTooFew) {
  const auto p = write_file("ragged.csv", "a,b,c\n1,2,3\n4,5\n");
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::parse,
               {"ragged.csv", "line 3", "has 2 cells", "has 3"});
}

TEST(IoCsv, RaggedRowTooMany) {
  const auto p = write_file("ragged2.csv", "a,b\n1,2,3\n");
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::parse,
               {"ragged2.csv", "line 2", "has 3 cells"});
}

TEST(IoCsv, NonNumericCell) {
  const auto p = write_file("text.csv", "x,y,label\n1,2,A\n3,abc,B\n");
  expect_error([&] { (void)chutoro::read_csv(p, "label"); }, error_code::parse,
               {"text.csv", "line 3", "column 2", "\"y\"", "non-numeric", "\"abc\""});
}

TEST(IoCsv, LabelColumnNotGivenMakesLabelsNonNumeric) {
  const auto p = write_file("labels.csv", "x,label\n1,A\n");
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::parse,
               {"labels.csv", "line 2", "column 2", "\"label\"", "label column"});
}

TEST(IoCsv, EmptyCell) {
  const auto p = write_file("hole.csv", "x,y\n1,\n");
  expect_error([&] { (void)chutoro::read_csv(p); }, error_code::parse,
               {"hole.csv", "line 2", "column 2", "empty cell"});
}

TEST(IoCsv, UnknownLabelColumn) {
  const auto p = write_file("nolabel.csv", "x,y\n1,2\n");
  expect_error([&] { (void)chutoro::read_csv(p, "class"); }, error_code::invalid_argument,
               {"nolabel.csv", "\"class\"", "not in the header", "\"x\", \"y\""});
}

TEST(IoCsv, LabelColumnOnly) {
  const auto p = write_file("onlylabel.csv", "label\nA\n");
  expect_error([&] { (void)chutoro::read_csv(p, "label"); }, error_code::parse,
               {"onlylabel.csv", "no feature"});
}

TEST(IoCsv, UnterminatedQuote) {
  const auto p = write_file("quote.csv", "x,label\n1,A\n2,\"B\n3,C\n");
  expect_error([&] { (void)chutoro::read_csv(p, "label"); }, error_code::parse,
               {"quote.csv", "line 3", "never closed"});
}

TEST(IoCsv, GarbageAfterClosingQuote) {
  const auto p = write_file("quote2.csv", "x,label\n1,\"A\"B\n");
  expect_error([&] { (void)chutoro::read_csv(p, "label"); }, error_code::parse,
               {"quote2.csv", "line 2", "closing quote"});
}

TEST(IoCsv, CarriageReturnOnlyLineEnds) {
  // Old Mac files end lines with a lone '\r'; they used to read as one header row.
  const auto t = chutoro::read_csv(write_file("mac.csv", "x,y\r1,2\r3,4\r\r5,6\r"));
  EXPECT_EQ(t.n, 3u);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(t.values, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // Mixed line ends, no final one.
  const auto m = chutoro::read_csv(write_file("mixed.csv", "x,y\r\n1,2\r3,4\n5,6"));
  EXPECT_EQ(m.values, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // Line numbers count lone '\r' too, inside quoted cells as well.
  const auto bad = write_file("macbad.csv", "v,label\r1,\"two\rlines\"\r\rbad,y\r");
  expect_error([&] { (void)chutoro::read_csv(bad, "label"); }, error_code::parse,
               {"macbad.csv", "line 5", "column 1", "\"bad\""});
  const auto q = chutoro::read_csv(write_file("macq.csv", "v,label\r1,\"a\"\r2,b\r"), "label");
  EXPECT_EQ(q.labels, (std::vector<std::string>{"a", "b"}));
}

TEST(IoCsv, FileBytesInMessagesAreEscaped) {
  // Terminal escape sequences and bytes that are not UTF-8 never reach a message raw.
  const auto head = write_file("esc.csv", "x\x1b[2J,y\n1,2\n3,\xff\x1b]0;pwned\x07\n");
  try {
    (void)chutoro::read_csv(head);
    ADD_FAILURE() << "no error";
  } catch (const chutoro::error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("\\xff\\x1b]0;pwned\\x07"), std::string::npos) << msg;
    for (const char c : msg) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << msg;
    EXPECT_EQ(msg.find('\xff'), std::string::npos) << msg;
  }
  const auto after = write_file("esc2.csv", "x,label\n1,\"A\"\x1b[31m\n");
  expect_error([&] { (void)chutoro::read_csv(after, "label"); }, error_code::parse,
               {"line 2", "unexpected text \"\\x1b[31m\"", "closing quote"});
}

// ---------------------------------------------------------------- NPY

TEST(IoNpy, Float32Version1) {
  const std::vector<float> v{1, 2, 3, 4, 5, 6};
  const auto p = write_file("f4.npy", make_npy(1, npy_dict("<f4", "(3, 2)"), raw_bytes(v)));
  const auto t = chutoro::read_npy(p);
  EXPECT_EQ(t.n, 3u);
  EXPECT_EQ(t.dim, 2u);
  EXPECT_EQ(t.values, v);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"0", "1"}));
  EXPECT_TRUE(t.labels.empty());
}

TEST(IoNpy, Float64Version2AndKeyOrder) {
  const std::vector<double> v{0.5, -1.25, 1e-3};
  const auto p = write_file(
      "f8.npy", make_npy(2, "{'shape': (1, 3), 'fortran_order': False, 'descr': '<f8'}", raw_bytes(v)));
  const auto t = chutoro::read_npy(p);
  EXPECT_EQ(t.n, 1u);
  EXPECT_EQ(t.dim, 3u);
  EXPECT_EQ(t.values, (std::vector<float>{0.5f, -1.25f, 1e-3f}));
}

TEST(IoNpy, Version3BigEndian) {
  std::vector<double> v{1.0, 2.0};
  std::string data = raw_bytes(v);
  for (std::size_t k = 0; k < data.size(); k += 8) std::reverse(data.begin() + k, data.begin() + k + 8);
  const auto p = write_file("be.npy", make_npy(3, npy_dict(">f8", "(2, 1)"), data));
  const auto t = chutoro::read_npy(p);
  EXPECT_EQ(t.values, (std::vector<float>{1, 2}));
}

TEST(IoNpy, ReadsSharedClusterableData) {
  const fs::path p = fs::path(CHUTORO_DATA_DIR) / "clusterable_data.npy";
  if (!fs::exists(p)) GTEST_SKIP() << p << " missing";
  const auto t = chutoro::read_npy(p);
  EXPECT_EQ(t.n, 2309u);
  EXPECT_EQ(t.dim, 2u);
}

TEST(IoNpy, WrongDtypeIsNamed) {
  const std::vector<std::int64_t> v{1, 2};
  const auto p = write_file("i8.npy", make_npy(1, npy_dict("<i8", "(1, 2)"), raw_bytes(v)));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::type_mismatch,
               {"i8.npy", "int64", "<i8", "float32"});
}

TEST(IoNpy, Float16IsRejected) {
  const auto p = write_file("f2.npy", make_npy(1, npy_dict("<f2", "(1, 2)"), std::string(4, '\0')));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::type_mismatch, {"f2.npy", "float16"});
}

TEST(IoNpy, StructuredDtypeIsRejected) {
  const auto p = write_file("rec.npy", make_npy(1,
                                                "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': "
                                                "False, 'shape': (1,), }",
                                                std::string(8, '\0')));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::type_mismatch, {"rec.npy", "structured"});
}

TEST(IoNpy, Rank1IsRejected) {
  const std::vector<float> v{1, 2, 3};
  const auto p = write_file("r1.npy", make_npy(1, npy_dict("<f4", "(3,)"), raw_bytes(v)));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::type_mismatch, {"r1.npy", "rank 1", "(3,)"});
}

TEST(IoNpy, Rank3IsRejected) {
  const std::vector<float> v(8, 1.0f);
  const auto p = write_file("r3.npy", make_npy(1, npy_dict("<f4", "(2, 2, 2)"), raw_bytes(v)));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::type_mismatch, {"r3.npy", "rank 3"});
}

TEST(IoNpy, FortranOrderIsRejected) {
  const std::vector<float> v{1, 2, 3, 4};
  const auto p = write_file("fo.npy", make_npy(1, npy_dict("<f4", "(2, 2)", true), raw_bytes(v)));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::type_mismatch, {"fo.npy", "Fortran"});
}

TEST(IoNpy, TruncatedData) {
  const std::vector<double> v{1, 2, 3};
  const auto p = write_file("trunc.npy", make_npy(1, npy_dict("<f8", "(2, 2)"), raw_bytes(v)));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::parse, {"trunc.npy", "truncated", "(2, 2)"});
}

TEST(IoNpy, TruncatedHeader) {
  const std::string full = make_npy(1, npy_dict("<f8", "(2, 2)"), "");
  const auto p = write_file("trunch.npy", full.substr(0, 30));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::parse, {"trunch.npy", "truncated"});
}

TEST(IoNpy, TrailingBytes) {
  const std::vector<float> v{1, 2, 3};
  const auto p = write_file("long.npy", make_npy(1, npy_dict("<f4", "(1, 2)"), raw_bytes(v)));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::parse, {"long.npy", "bytes follow"});
}

TEST(IoNpy, BadMagic) {
  const auto p = write_file("fake.npy", "a,b\n1,2\n");
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::parse, {"fake.npy", "not a .npy"});
}

TEST(IoNpy, FileShorterThanItsHeader) {
  // The magic alone: the file is too short, not "missing its magic bytes".
  expect_error([&] { (void)chutoro::read_npy(write_file("magic.npy", "\x93NUMPY")); }, error_code::parse,
               {"magic.npy", "the file is 6 bytes long, too short for a .npy header", "need 10 bytes"});
  expect_error(
      [&] {
        (void)chutoro::read_npy(write_file("v2.npy", std::string("\x93NUMPY\x02\x00\x10\x00\x00", 11)));
      },
      error_code::parse, {"v2.npy", "11 bytes long", "need 12 bytes"});
  expect_error([&] { (void)chutoro::read_npy(write_file("not.npy", "\x93NUMPX")); }, error_code::parse,
               {"not.npy", "not a .npy file"});
  // A header length beyond the file names both.
  std::string h = make_npy(1, npy_dict("<f4", "(1, 1)"), "");
  h[8] = '\xe8';
  h[9] = '\x03';  // 1000
  expect_error([&] { (void)chutoro::read_npy(write_file("hlen.npy", h)); }, error_code::parse,
               {"hlen.npy", "header length field says 1000 bytes", "but the file holds"});
}

TEST(IoNpy, HugeShapeInATinyFileAllocatesNothing) {
  // 2^40 x 2^20 float32 is 4 EiB: an error from the file's size, not an allocation.
  const auto p = write_file("huge.npy", make_npy(1, npy_dict("<f4", "(1099511627776, 1048576)"), "abcd"));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::parse, {"huge.npy", "truncated data"});
  const auto q = write_file("wide.npy", make_npy(1, npy_dict("<f8", "(1, 1152921504606846975)"), ""));
  expect_error([&] { (void)chutoro::read_npy(q); }, error_code::parse, {"wide.npy", "truncated data"});
}

TEST(IoNpy, DtypeTextIsEscaped) {
  const auto p = write_file("dt.npy", make_npy(1, npy_dict("\x1b[2J\xfe", "(1, 1)"), "abcd"));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::type_mismatch,
               {"dt.npy", "dtype \"\\x1b[2J\\xfe\" is not supported"});
}

TEST(IoNpy, LongDigitStringInDtypeIsNamed) {
  // Found by fuzz_npy: the digits after the kind overflowed an int (UBSan) while naming the dtype.
  const auto p =
      write_file("digits.npy", make_npy(1, npy_dict("(18446744073709551615, 2)<f8", "(1, 1)"), "abcd"));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::type_mismatch,
               {"digits.npy", "dtype \"(18446744073709551615, 2)<f8\" is not supported"});
  const auto q = write_file("f99.npy", make_npy(1, npy_dict("<f99999999999", "(1, 1)"), "abcd"));
  expect_error([&] { (void)chutoro::read_npy(q); }, error_code::type_mismatch,
               {"f99.npy", "dtype \"<f99999999999\" is not supported"});
}

TEST(IoNpy, EmptyFile) {
  const auto p = write_file("empty.npy", "");
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::parse, {"empty.npy", "empty input"});
}

TEST(IoNpy, ZeroRows) {
  const auto p = write_file("zero.npy", make_npy(1, npy_dict("<f4", "(0, 3)"), ""));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::parse,
               {"zero.npy", "empty input", "no rows"});
}

TEST(IoNpy, NaNValueNamesIndex) {
  const std::vector<double> v{1, 2, 3, std::nan("")};
  const auto p = write_file("nan.npy", make_npy(1, npy_dict("<f8", "(2, 2)"), raw_bytes(v)));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::parse, {"nan.npy", "X[1, 1]", "NaN"});
}

TEST(IoNpy, InfValueNamesIndex) {
  const std::vector<float> v{1, HUGE_VALF};
  const auto p = write_file("inf.npy", make_npy(1, npy_dict("<f4", "(2, 1)"), raw_bytes(v)));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::parse, {"inf.npy", "X[1, 0]", "infinite"});
}

TEST(IoNpy, Float64BeyondFloat32) {
  const std::vector<double> v{1e300};
  const auto p = write_file("huge.npy", make_npy(1, npy_dict("<f8", "(1, 1)"), raw_bytes(v)));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::parse, {"huge.npy", "X[0, 0]", "float32"});
}

TEST(IoNpy, MalformedHeader) {
  const auto p = write_file("hdr.npy", make_npy(1, "{'descr': '<f4', 'shape': (1, 1)", std::string(4, '\0')));
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::parse, {"hdr.npy", "malformed .npy header"});
}

TEST(IoNpy, MissingFile) {
  const fs::path p = test_dir() / "nope.npy";
  expect_error([&] { (void)chutoro::read_npy(p); }, error_code::io, {"nope.npy"});
}

// ---------------------------------------------------------------- lines

TEST(IoLines, Utf8AndLineEnds) {
  const auto p = write_file("w.txt",
                            "\xEF\xBB\xBF"
                            "caf\xC3\xA9\r\n\xE6\x97\xA5\xE6\x9C\xAC\n\nna\xC3\xAFve's\n");
  const auto items = chutoro::read_lines(p);
  EXPECT_EQ(items,
            (std::vector<std::string>{"caf\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC", "", "na\xC3\xAFve's"}));
}

TEST(IoLines, OnlyTheFinalEmptyPieceIsDropped) {
  EXPECT_EQ(chutoro::read_lines(write_file("a.txt", "a\nb")), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(chutoro::read_lines(write_file("b.txt", "a\nb\n")), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(chutoro::read_lines(write_file("c.txt", "a\nb\n\n")), (std::vector<std::string>{"a", "b", ""}));
  EXPECT_EQ(chutoro::read_lines(write_file("d.txt", "\n")), (std::vector<std::string>{""}));
  EXPECT_EQ(chutoro::read_lines(write_file("e.txt", " x \r\n")), (std::vector<std::string>{" x "}));
}

TEST(IoLines, CarriageReturnOnlyLineEnds) {
  EXPECT_EQ(chutoro::read_lines(write_file("m.txt", "a\rb\r\rc")),
            (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(chutoro::read_lines(write_file("n.txt", "a\r")), (std::vector<std::string>{"a"}));
  EXPECT_EQ(chutoro::read_lines(write_file("o.txt", "a\r\r\nb\n")), (std::vector<std::string>{"a", "", "b"}));
}

TEST(IoLines, EmptyFile) {
  const auto p = write_file("empty.txt", "");
  expect_error([&] { (void)chutoro::read_lines(p); }, error_code::parse, {"empty.txt", "empty input"});
}

TEST(IoLines, MissingFile) {
  const fs::path p = test_dir() / "gone.txt";
  expect_error([&] { (void)chutoro::read_lines(p); }, error_code::io, {"gone.txt", "cannot open"});
}

TEST(IoLines, ReadsSharedWords) {
  const fs::path p = fs::path(CHUTORO_DATA_DIR) / "words_en.txt";
  if (!fs::exists(p)) GTEST_SKIP() << p << " missing";
  const auto items = chutoro::read_lines(p);
  EXPECT_EQ(items.size(), 104334u);
  EXPECT_EQ(items.front(), "A");
  EXPECT_EQ(items.back(), "zygotes");
}

// ---------------------------------------------------------------- atomic writer

TEST(IoWrite, WritesHeaderAndRowsInOrder) {
  const fs::path p = test_dir() / "out.csv";
  const std::vector<std::int32_t> labels{0, -1, 1};
  const std::vector<double> prob{1.0, 0.0, 0.25};
  const std::vector<double> score{0.125, 1.0, 0.5};
  chutoro::write_clustering_csv(p, labels, prob, score);
  EXPECT_EQ(slurp(p), "label,probability,outlier_score\n0,1,0.125\n-1,0,1\n1,0.25,0.5\n");
  // Replacing an existing file works and leaves no temporary file behind.
  chutoro::write_clustering_csv(p, std::vector<std::int32_t>{2}, std::vector<double>{0.5},
                                std::vector<double>{0.75});
  EXPECT_EQ(slurp(p), "label,probability,outlier_score\n2,0.5,0.75\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(p.parent_path()), fs::directory_iterator{}), 1);
}

TEST(IoWrite, DoublesRoundTrip) {
  const fs::path p = test_dir() / "rt.csv";
  const double x = 0.1 + 0.2;
  chutoro::write_clustering_csv(p, std::vector<std::int32_t>{3}, std::vector<double>{x},
                                std::vector<double>{1e-300});
  const std::string s = slurp(p);
  const auto line = s.substr(s.find('\n') + 1);
  EXPECT_EQ(line, "3,0.30000000000000004,1e-300\n");
}

TEST(IoWrite, MissingDirectoryFailsCleanly) {
  const fs::path p = test_dir() / "no_such_dir" / "out.csv";
  expect_error(
      [&] {
        chutoro::write_clustering_csv(p, std::vector<std::int32_t>{0}, std::vector<double>{1},
                                      std::vector<double>{0});
      },
      error_code::io, {"out.csv", "cannot create"});
  EXPECT_FALSE(fs::exists(p));
}

TEST(IoWrite, DirectoryTargetIsRefusedAndLeavesNothing) {
  const fs::path dir = test_dir();
  const fs::path target = dir / "is_a_dir";
  fs::create_directories(target / "child");
  expect_error(
      [&] {
        chutoro::write_clustering_csv(target, std::vector<std::int32_t>{0}, std::vector<double>{1},
                                      std::vector<double>{0});
      },
      error_code::io, {"is_a_dir", "is a directory"});
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1);  // only is_a_dir
  EXPECT_TRUE(fs::is_directory(target / "child"));
}

TEST(IoWrite, LengthMismatch) {
  const fs::path p = test_dir() / "bad.csv";
  expect_error(
      [&] {
        chutoro::write_clustering_csv(p, std::vector<std::int32_t>{0, 1}, std::vector<double>{1},
                                      std::vector<double>{0, 0});
      },
      error_code::invalid_argument, {"differ in length"});
  EXPECT_FALSE(fs::exists(p));
}

// ---------------------------------------------------------------- message escaping

TEST(IoEscape, QuoteTextEscapesControlsAndInvalidUtf8) {
  using chutoro::io_detail::escape_text;
  using chutoro::io_detail::quote_text;
  EXPECT_EQ(quote_text("caf\xC3\xA9 \xE6\x97\xA5"), "\"caf\xC3\xA9 \xE6\x97\xA5\"");  // valid UTF-8 is kept
  EXPECT_EQ(quote_text("a\x1b[2Jb\n\t\x7f"), "\"a\\x1b[2Jb\\n\\t\\x7f\"");
  EXPECT_EQ(quote_text("a\xff"
                       "b"),
            "\"a\\xffb\"");                                      // not UTF-8
  EXPECT_EQ(quote_text("\xC0\x80"), "\"\\xc0\\x80\"");           // overlong NUL
  EXPECT_EQ(quote_text("\xED\xA0\x80"), "\"\\xed\\xa0\\x80\"");  // a surrogate
  EXPECT_EQ(quote_text("\xE6\x97"), "\"\\xe6\\x97\"");           // cut short
  EXPECT_EQ(quote_text("\xC2\x9B"
                       "31m"),
            "\"\\u009b31m\"");  // C1 CSI
  EXPECT_EQ(quote_text("\xE2\x80\xAE"
                       "abc"),
            "\"\\u202eabc\"");  // right-to-left override
  EXPECT_EQ(quote_text("say \"hi\" \\ bye"), "\"say \\\"hi\\\" \\\\ bye\"");
  EXPECT_EQ(quote_text(std::string(50, 'x'), 10), "\"xxxxxxxxxx...\"");
  // escape_text: no quotes, backslashes kept, so escaping twice changes nothing.
  const std::string once = escape_text("p\x1b\xff\\x");
  EXPECT_EQ(once, "p\\x1b\\xff\\x");
  EXPECT_EQ(escape_text(once), once);
}
