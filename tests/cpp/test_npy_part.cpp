// chutoro::read_npy_part: a distributed run's ranks each read their rows of
// a .npy file (docs/distributed.md) — the parts tile the file, and errors
// name rows by their index in the whole file.
#include <gtest/gtest.h>

#include <chutoro/error.hpp>
#include <chutoro/io.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "test_data.hpp"

namespace fs = std::filesystem;

namespace {

fs::path tmp(const std::string& name) {
  const fs::path d = fs::path(CHUTORO_TEST_TMP) / "npy_part";
  fs::create_directories(d);
  return d / name;
}

}  // namespace

TEST(NpyPart, PartsTileTheFile) {
  const std::string path = chutoro_test::data_path("clusterable_data.npy");  // float64, 2309 x 2
  const chutoro::dense_table all = chutoro::read_npy(path);
  for (std::size_t parts : {1u, 2u, 3u, 7u}) {
    std::vector<float> joined;
    std::size_t next = 0;
    for (std::size_t k = 0; k < parts; ++k) {
      const chutoro::npy_part p = chutoro::read_npy_part(path, k, parts);
      EXPECT_EQ(p.total_rows, all.n);
      EXPECT_EQ(p.first_row, next) << parts << " " << k;
      EXPECT_EQ(p.first_row, all.n * k / parts);
      EXPECT_EQ(p.table.dim, all.dim);
      next += p.table.n;
      joined.insert(joined.end(), p.table.values.begin(), p.table.values.end());
    }
    EXPECT_EQ(next, all.n);
    EXPECT_EQ(joined, all.values) << parts;
  }
}

TEST(NpyPart, EmptyPartsAndBadPartNumbers) {
  const fs::path p = tmp("three.npy");
  chutoro_test::save_npy_f4(p, {1, 2, 3, 4, 5, 6}, 3, 2);
  std::size_t rows = 0;
  for (std::size_t k = 0; k < 5; ++k) rows += chutoro::read_npy_part(p, k, 5).table.n;
  EXPECT_EQ(rows, 3u);
  EXPECT_EQ(chutoro::read_npy_part(p, 0, 5).table.n, 0u);
  EXPECT_EQ(chutoro::read_npy_part(p, 4, 5).table.values, (std::vector<float>{5, 6}));
  try {
    (void)chutoro::read_npy_part(p, 2, 2);
    FAIL();
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), chutoro::error_code::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("part 2 of 2 does not exist"), std::string::npos) << e.what();
  }
}

TEST(NpyPart, ErrorsNameRowsOfTheWholeFileAndOnlyTheirPart) {
  std::vector<float> v(10 * 2, 1.0f);
  v[7 * 2 + 1] = std::numeric_limits<float>::quiet_NaN();
  const fs::path p = tmp("nan.npy");
  chutoro_test::save_npy_f4(p, v, 10, 2);
  EXPECT_EQ(chutoro::read_npy_part(p, 0, 2).table.n, 5u);  // rows 0-4: no NaN there
  try {
    (void)chutoro::read_npy_part(p, 1, 2);
    FAIL();
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), chutoro::error_code::parse);
    EXPECT_NE(std::string(e.what()).find("X[7, 1] (0-based row, column) is NaN"), std::string::npos)
        << e.what();
  }
  // A truncated file is refused by every part (the size is known before reading).
  const fs::path t = tmp("short.npy");
  chutoro_test::save_npy_f4(t, std::vector<float>(10 * 2, 1.0f), 10, 2);
  fs::resize_file(t, fs::file_size(t) - 4);
  for (std::size_t k = 0; k < 2; ++k)
    EXPECT_THROW((void)chutoro::read_npy_part(t, k, 2), chutoro::error) << k;
  // Bytes after the data: the last part sees them.
  const fs::path x = tmp("extra.npy");
  chutoro_test::save_npy_f4(x, std::vector<float>(10 * 2, 1.0f), 10, 2);
  std::ofstream(x, std::ios::binary | std::ios::app).put('!');
  EXPECT_NO_THROW((void)chutoro::read_npy_part(x, 0, 2));
  EXPECT_THROW((void)chutoro::read_npy_part(x, 1, 2), chutoro::error);
}
