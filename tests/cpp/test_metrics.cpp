// test_metrics.cpp — the built-in distances against naive formulas, and input
// validation of the sources.
//
// What the tests prove:
//  - MetricDense.MatchesNaiveDouble: dense_source's euclidean, manhattan and
//    cosine agree with textbook double-precision formulas on random vectors of
//    odd dimensions (1, 3, 17, 100: padding tails, several 16-float blocks),
//    within float32 rounding; d(i, j) == d(j, i) bit for bit; d(i, i) == 0.
//  - MetricDense.Rejects*: a zero row under cosine, and NaN / +-Inf under any
//    metric, throw chutoro::error(invalid_argument) naming the row and column.
//  - MetricLevenshtein.*: hand cases ("kitten"/"sitting" = 3, empty strings,
//    code points rather than bytes: "naïve"/"naive" = 1, emoji, CJK), random
//    strings of 0..150 code points (both the <= 64 bit-parallel path and the
//    row path, ASCII mixed with code points >= 256) against a naive full-table
//    dynamic programme; symmetry; invalid UTF-8 (stray continuation byte,
//    truncated sequence, overlong form, surrogate, > U+10FFFF) rejected with
//    error(parse) naming the item.
//  - MetricCustomSource.NanDistanceFailsFit: a user data_source returning NaN
//    (or a negative value) for one pair makes fit throw chutoro::error naming
//    that pair, in both candidate modes.
#include <gtest/gtest.h>

#include <chutoro/chutoro.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

double naive(chutoro::dense_metric m, const float* x, const float* y, std::size_t dim) {
  double s = 0, xx = 0, yy = 0, xy = 0;
  for (std::size_t k = 0; k < dim; ++k) {
    const double a = x[k], b = y[k];
    s += m == chutoro::dense_metric::manhattan ? std::fabs(a - b) : (a - b) * (a - b);
    xx += a * a, yy += b * b, xy += a * b;
  }
  switch (m) {
    case chutoro::dense_metric::euclidean:
      return std::sqrt(s);
    case chutoro::dense_metric::manhattan:
      return s;
    default:
      return 1.0 - xy / (std::sqrt(xx) * std::sqrt(yy));
  }
}

std::string utf8(const std::vector<char32_t>& cps) {
  std::string s;
  for (char32_t c : cps) {
    if (c < 0x80) {
      s += static_cast<char>(c);
    } else if (c < 0x800) {
      s += static_cast<char>(0xC0 | (c >> 6));
      s += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      s += static_cast<char>(0xE0 | (c >> 12));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (c >> 18));
      s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return s;
}

// Full (|a|+1) x (|b|+1) Wagner-Fischer table.
std::size_t naive_levenshtein(const std::vector<char32_t>& a, const std::vector<char32_t>& b) {
  std::vector<std::vector<std::size_t>> t(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) t[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) t[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j)
      t[i][j] =
          std::min({t[i - 1][j] + 1, t[i][j - 1] + 1, t[i - 1][j - 1] + (a[i - 1] != b[j - 1] ? 1 : 0)});
  return t[a.size()][b.size()];
}

float lev(const std::string& a, const std::string& b) {
  const std::vector<std::string> items{a, b};
  chutoro::string_source s(items);
  return s.distance(0, 1);
}

// Runs `f`, expecting chutoro::error with `code` and a message containing every one of `parts`.
template <class F>
void expect_error(F&& f, chutoro::error_code code, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no exception thrown";
  } catch (const chutoro::error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(code)) << e.what();
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks '" << p << "'";
  }
}

}  // namespace

TEST(MetricDense, MatchesNaiveDouble) {
  std::mt19937_64 rng(31);
  std::normal_distribution<float> g(0.0f, 3.0f);
  for (std::size_t dim : {1, 3, 17, 100})
    for (auto metric : {chutoro::dense_metric::euclidean, chutoro::dense_metric::manhattan,
                        chutoro::dense_metric::cosine}) {
      SCOPED_TRACE("dim " + std::to_string(dim) + ", " + std::string(chutoro::to_string(metric)));
      const std::size_t n = 25;
      std::vector<float> v(n * dim);
      for (float& x : v) x = g(rng);
      v[0] += 1000.0f;  // one large value, and one row repeated (distance 0)
      std::copy_n(v.begin() + static_cast<std::ptrdiff_t>(dim), dim,
                  v.begin() + static_cast<std::ptrdiff_t>(2 * dim));
      chutoro::dense_source src(v, n, dim, metric);
      EXPECT_EQ(src.dim(), dim);
      EXPECT_EQ(src.name(), std::string(chutoro::to_string(metric)));
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
          const double want = naive(metric, &v[i * dim], &v[j * dim], dim);
          const double got = src.distance(i, j);
          if (metric == chutoro::dense_metric::cosine)
            ASSERT_NEAR(got, want, 2e-6) << i << ", " << j;
          else
            ASSERT_NEAR(got, want, 1e-6 * std::max(1.0, want) * std::sqrt(static_cast<double>(dim)))
                << i << ", " << j;
          ASSERT_EQ(src.distance(i, j), src.distance(j, i)) << i << ", " << j;
          ASSERT_GE(got, 0.0);
        }
      for (std::size_t i = 0; i < n; ++i) {
        if (metric == chutoro::dense_metric::cosine)
          EXPECT_LE(src.distance(i, i), 1e-6);
        else
          EXPECT_EQ(src.distance(i, i), 0.0f);
      }
      EXPECT_LE(src.distance(1, 2), metric == chutoro::dense_metric::cosine ? 1e-6f : 0.0f);
    }
}

TEST(MetricDense, CosineRejectsZeroRow) {
  std::vector<float> v{1, 2, 3, 4, 5, 6, 0, 0, 0, 7, 8, 9};
  expect_error([&] { chutoro::dense_source s(v, 4, 3, chutoro::dense_metric::cosine); },
               chutoro::error_code::invalid_argument, {"row 2"});
  // The same data is fine under euclidean.
  EXPECT_NO_THROW(chutoro::dense_source(v, 4, 3, chutoro::dense_metric::euclidean));
}

TEST(MetricDense, RejectsNanAndInfNamingRowAndColumn) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()})
    for (auto metric : {chutoro::dense_metric::euclidean, chutoro::dense_metric::manhattan,
                        chutoro::dense_metric::cosine}) {
      std::vector<float> v(5 * 4, 1.5f);
      v[3 * 4 + 2] = bad;  // row 3, column 2
      expect_error([&] { chutoro::dense_source s(v, 5, 4, metric); }, chutoro::error_code::invalid_argument,
                   {"row 3", "column 2"});
    }
}

TEST(MetricDense, RejectsBadShapes) {
  std::vector<float> v(12, 1.0f);
  EXPECT_THROW(chutoro::dense_source(v, 5, 3, chutoro::dense_metric::euclidean), chutoro::error);
  EXPECT_THROW(chutoro::dense_source(v, 0, 3, chutoro::dense_metric::euclidean), chutoro::error);
  EXPECT_THROW(chutoro::dense_source(v, 12, 0, chutoro::dense_metric::euclidean), chutoro::error);
}

TEST(MetricLevenshtein, HandCases) {
  EXPECT_EQ(lev("kitten", "sitting"), 3.0f);
  EXPECT_EQ(lev("sitting", "kitten"), 3.0f);
  EXPECT_EQ(lev("flaw", "lawn"), 2.0f);
  EXPECT_EQ(lev("", ""), 0.0f);
  EXPECT_EQ(lev("", "abc"), 3.0f);
  EXPECT_EQ(lev("abc", ""), 3.0f);
  EXPECT_EQ(lev("same", "same"), 0.0f);
  // Code points, not bytes: "ï" is 2 bytes, one code point.
  EXPECT_EQ(lev("na\xC3\xAFve", "naive"), 1.0f);
  EXPECT_EQ(lev("\xC3\xAF", ""), 1.0f);
  // Emoji (4 bytes each): one substitution, one deletion.
  EXPECT_EQ(lev("\xF0\x9F\x98\x80", "\xF0\x9F\x98\x83"), 1.0f);  // U+1F600 vs U+1F603
  EXPECT_EQ(lev("a\xF0\x9F\x98\x80"
                "b",
                "ab"),
            1.0f);
  EXPECT_EQ(lev("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", "\xE6\x97\xA5\xE6\x9C\xAC"), 1.0f);  // 日本語 vs 日本
  // Multibyte code points sharing leading bytes must not match partially.
  EXPECT_EQ(lev("\xC3\xA9", "\xC3\xA8"), 1.0f);  // é vs è
  // The free function on decoded code points.
  const auto a = chutoro::decode_utf8("kitten", "a"), b = chutoro::decode_utf8("sitting", "b");
  EXPECT_EQ(chutoro::levenshtein(a, b), 3u);
}

TEST(MetricLevenshtein, RandomStringsMatchNaiveTable) {
  std::mt19937_64 rng(2024);
  // A small alphabet (many matches) mixing ASCII, Latin-1, CJK and an emoji.
  const std::vector<char32_t> alphabet{U'a',      U'b',      U'c',      U'\u00E9',
                                       U'\u00FF', U'\u65E5', U'\u672C', U'\U0001F600'};
  std::uniform_int_distribution<std::size_t> letter(0, alphabet.size() - 1);
  std::vector<std::vector<char32_t>> cps;
  std::vector<std::string> items;
  for (std::size_t len : {0, 1, 2, 5, 31, 63, 64, 65, 100, 127, 128, 129, 150}) {
    for (int rep = 0; rep < 3; ++rep) {
      std::vector<char32_t> s(len);
      for (auto& c : s) c = alphabet[letter(rng)];
      cps.push_back(s);
      items.push_back(utf8(s));
      // A mutated copy: close strings with long common prefixes / suffixes.
      auto t = s;
      if (!t.empty()) t[len / 2] = alphabet[letter(rng)];
      t.insert(t.begin() + static_cast<std::ptrdiff_t>(len / 3), alphabet[letter(rng)]);
      cps.push_back(t);
      items.push_back(utf8(t));
    }
  }
  chutoro::string_source src(items);
  ASSERT_EQ(src.size(), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    ASSERT_EQ(src.item(i).size(), cps[i].size()) << "item " << i;
    for (std::size_t j = 0; j < items.size(); ++j) {
      const auto want = static_cast<float>(naive_levenshtein(cps[i], cps[j]));
      ASSERT_EQ(src.distance(i, j), want) << "items " << i << " (" << cps[i].size() << " code points) and "
                                          << j << " (" << cps[j].size() << ")";
      ASSERT_EQ(src.distance(i, j), src.distance(j, i));
    }
  }
}

TEST(MetricLevenshtein, RejectsInvalidUtf8NamingTheItem) {
  for (const std::string& bad :
       {std::string("\x80"), std::string("ab\xC3"), std::string("\xC0\xAF"), std::string("\xED\xA0\x80"),
        std::string("\xF4\x90\x80\x80"), std::string("\xFF")}) {
    const std::vector<std::string> items{"fine", bad, "also fine"};
    expect_error([&] { chutoro::string_source s(items); }, chutoro::error_code::parse, {"item 1"});
  }
}

namespace {

// n items on a line, d(i, j) = |i - j|, except one pair whose distance is `bad`.
class poisoned_source final : public chutoro::data_source {
 public:
  poisoned_source(std::size_t n, std::size_t a, std::size_t b, float bad) : n_(n), a_(a), b_(b), bad_(bad) {}
  std::size_t size() const noexcept override { return n_; }
  std::string name() const override { return "poisoned"; }
  float distance(std::size_t i, std::size_t j) const override {
    if ((i == a_ && j == b_) || (i == b_ && j == a_)) return bad_;
    return std::fabs(static_cast<float>(i) - static_cast<float>(j)) +
           0.001f * static_cast<float>((i * j) % 7);
  }

 private:
  std::size_t n_, a_, b_;
  float bad_;
};

}  // namespace

TEST(MetricCustomSource, NanDistanceFailsFit) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), -1.0f})
    for (auto mode : {chutoro::candidate_mode::exact, chutoro::candidate_mode::hnsw}) {
      // 30 items: the hnsw build with ef_construction 100 computes every pair, so it meets (3, 7) too.
      const poisoned_source src(30, 3, 7, bad);
      chutoro::params p;
      p.build.candidates = mode;
      p.build.threads = 1;
      try {
        (void)chutoro::fit(src, p);
        ADD_FAILURE() << "fit accepted distance " << bad;
      } catch (const chutoro::error& e) {
        const std::string msg = e.what();
        EXPECT_EQ(e.code(), chutoro::error_code::invalid_argument) << msg;
        EXPECT_TRUE(msg.find("distance(3, 7)") != std::string::npos ||
                    msg.find("distance(7, 3)") != std::string::npos)
            << msg;
        EXPECT_NE(msg.find("poisoned"), std::string::npos) << msg;
      }
    }
  // The same source without the poisoned pair clusters fine.
  const poisoned_source ok(30, 3, 7, 4.0f);
  chutoro::params p;
  EXPECT_NO_THROW((void)chutoro::fit(ok, p));
}
