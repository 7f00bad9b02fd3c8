// Growth of the built-in sources (data_source::append, cross_distance,
// check_compatible, can_grow): a source grown by appends measures exactly,
// bit for bit, what a source built from all the items at once measures;
// cross_distance equals distance() on the concatenation; incompatible sources
// are rejected with type_mismatch and leave the source unchanged; sources that
// cannot grow say so with error_code::unsupported; truncate() undoes appends.
#include <gtest/gtest.h>

#include <bit>
#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <chutoro/metrics.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

using source_ptr = std::unique_ptr<chutoro::data_source>;

/// Exact equality of two floats, bit for bit (0.0f vs -0.0f and NaNs told apart).
::testing::AssertionResult same_bits(float a, float b) {
  if (std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a << " and " << b << " differ in their bits";
}

/// A source of the same kind that the case's source must reject, and the difference it names.
struct mismatch {
  source_ptr source;
  std::string what;  // "kind", "metric" or "dimension"
};

/// One built-in source kind and metric over a small random data set of n items:
/// make(b, e) builds the source of items [b, e).
struct growth_case {
  std::string label;
  std::size_t n = 0;
  std::function<source_ptr(std::size_t, std::size_t)> make;
  std::function<std::vector<mismatch>()> mismatches;
};

void PrintTo(const growth_case& c, std::ostream* os) { *os << c.label; }

constexpr std::size_t kItems = 24;

std::vector<float> random_values(std::size_t n, std::size_t dim, float scale, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> v(n * dim);
  for (float& x : v) x = g(rng);
  return v;
}

source_ptr a_string_source() {
  return std::make_unique<chutoro::string_source>(std::vector<std::string>{"ab", "c"});
}

source_ptr a_dense_source(std::size_t dim, chutoro::dense_metric m) {
  return std::make_unique<chutoro::dense_source>(random_values(2, dim, 1.0f, 99), 2, dim, m);
}

growth_case dense_case(chutoro::dense_metric metric, std::size_t dim) {
  const auto values = std::make_shared<std::vector<float>>(random_values(kItems, dim, 1.0f, 11 + dim));
  growth_case c;
  c.label = std::string(chutoro::to_string(metric)) + "_d" + std::to_string(dim);
  c.n = kItems;
  c.make = [values, dim, metric](std::size_t b, std::size_t e) -> source_ptr {
    return std::make_unique<chutoro::dense_source>(
        std::span<const float>(*values).subspan(b * dim, (e - b) * dim), e - b, dim, metric);
  };
  c.mismatches = [dim, metric] {
    std::vector<mismatch> out;
    const auto other_metric = metric == chutoro::dense_metric::euclidean ? chutoro::dense_metric::manhattan
                                                                         : chutoro::dense_metric::euclidean;
    out.push_back({a_dense_source(dim, other_metric), "metric"});
    out.push_back({a_dense_source(dim + 1, metric), "dimension"});
    out.push_back({a_string_source(), "kind"});
    out.push_back({std::make_unique<chutoro::product_source>(random_values(2, dim, 1.0f, 5), 2, dim,
                                                             chutoro::product_metric::angular),
                   "kind"});
    return out;
  };
  return c;
}

growth_case product_case(chutoro::product_metric metric, std::size_t dim) {
  // Small values so that inner products spread around 1 and the clamp at 0 is not everywhere.
  const auto values = std::make_shared<std::vector<float>>(random_values(kItems, dim, 0.35f, 23 + dim));
  growth_case c;
  c.label = std::string(chutoro::to_string(metric)) + "_d" + std::to_string(dim);
  c.n = kItems;
  c.make = [values, dim, metric](std::size_t b, std::size_t e) -> source_ptr {
    return std::make_unique<chutoro::product_source>(
        std::span<const float>(*values).subspan(b * dim, (e - b) * dim), e - b, dim, metric);
  };
  c.mismatches = [dim, metric] {
    std::vector<mismatch> out;
    const auto other_metric = metric == chutoro::product_metric::angular
                                  ? chutoro::product_metric::inner_product
                                  : chutoro::product_metric::angular;
    out.push_back(
        {std::make_unique<chutoro::product_source>(random_values(2, dim, 1.0f, 6), 2, dim, other_metric),
         "metric"});
    out.push_back(
        {std::make_unique<chutoro::product_source>(random_values(2, dim + 3, 1.0f, 7), 2, dim + 3, metric),
         "dimension"});
    out.push_back({a_dense_source(dim, chutoro::dense_metric::cosine), "kind"});
    return out;
  };
  return c;
}

growth_case string_case() {
  // Lengths 0..90 over a small alphabet with multi-byte code points: both the
  // bit-parallel (<= 64 code points) and the row-by-row Levenshtein paths.
  std::mt19937_64 rng(31);
  const std::vector<std::string> alphabet = {"a", "b", "c", "d", "\xC3\xA9", "\xE6\xBC\xA2"};
  const auto items = std::make_shared<std::vector<std::string>>();
  for (std::size_t i = 0; i < kItems; ++i) {
    const std::size_t len = i == 3 ? 0 : rng() % 91;
    std::string s;
    for (std::size_t k = 0; k < len; ++k) s += alphabet[rng() % alphabet.size()];
    items->push_back(s);
  }
  growth_case c;
  c.label = "levenshtein";
  c.n = kItems;
  c.make = [items](std::size_t b, std::size_t e) -> source_ptr {
    return std::make_unique<chutoro::string_source>(std::span<const std::string>(*items).subspan(b, e - b));
  };
  c.mismatches = [] {
    std::vector<mismatch> out;
    out.push_back({a_dense_source(3, chutoro::dense_metric::euclidean), "kind"});
    out.push_back({std::make_unique<chutoro::set_source>(
                       chutoro::set_source::from_token_lines(std::vector<std::string>{"ab c", "c"})),
                   "kind"});
    return out;
  };
  return c;
}

growth_case set_case() {
  std::mt19937_64 rng(41);
  const auto sets = std::make_shared<std::vector<std::vector<std::uint32_t>>>();
  for (std::size_t i = 0; i < kItems; ++i) {
    std::vector<std::uint32_t> s;
    for (std::uint32_t id = 0; id < 30; ++id)
      if (i != 5 && i != 6 && rng() % 4 == 0) s.push_back(id);  // items 5 and 6: empty sets
    sets->push_back(s);
  }
  growth_case c;
  c.label = "jaccard";
  c.n = kItems;
  c.make = [sets](std::size_t b, std::size_t e) -> source_ptr {
    std::vector<std::uint32_t> ids;
    std::vector<std::size_t> offsets = {0};
    for (std::size_t i = b; i < e; ++i) {
      ids.insert(ids.end(), (*sets)[i].begin(), (*sets)[i].end());
      offsets.push_back(ids.size());
    }
    return std::make_unique<chutoro::set_source>(ids, offsets);
  };
  c.mismatches = [] {
    std::vector<mismatch> out;
    out.push_back({a_string_source(), "kind"});
    out.push_back({std::make_unique<chutoro::bit_source>(std::vector<std::uint8_t>{0xF0, 0x0F}, 2, 8,
                                                         chutoro::bit_metric::tanimoto),
                   "kind"});
    return out;
  };
  return c;
}

growth_case bit_case(chutoro::bit_metric metric, std::size_t nbits) {
  const std::size_t row_bytes = (nbits + 7) / 8;
  std::mt19937_64 rng(53 + nbits);
  const auto packed = std::make_shared<std::vector<std::uint8_t>>(kItems * row_bytes);
  for (std::size_t i = 0; i < kItems; ++i)
    for (std::size_t k = 0; k < row_bytes; ++k)
      (*packed)[i * row_bytes + k] = i == 2 ? 0 : static_cast<std::uint8_t>(rng());  // row 2: all zero
  growth_case c;
  c.label = std::string(chutoro::to_string(metric)) + "_b" + std::to_string(nbits);
  c.n = kItems;
  c.make = [packed, nbits, row_bytes, metric](std::size_t b, std::size_t e) -> source_ptr {
    return std::make_unique<chutoro::bit_source>(
        std::span<const std::uint8_t>(*packed).subspan(b * row_bytes, (e - b) * row_bytes), e - b, nbits,
        metric);
  };
  c.mismatches = [nbits, metric] {
    std::vector<mismatch> out;
    const std::size_t row_bytes = (nbits + 7) / 8;
    const auto other_metric =
        metric == chutoro::bit_metric::hamming ? chutoro::bit_metric::tanimoto : chutoro::bit_metric::hamming;
    out.push_back({std::make_unique<chutoro::bit_source>(std::vector<std::uint8_t>(row_bytes, 0x5A), 1, nbits,
                                                         other_metric),
                   "metric"});
    // One bit more: the same number of bytes (and words) when nbits % 8 != 0, still a different dimension.
    out.push_back({std::make_unique<chutoro::bit_source>(std::vector<std::uint8_t>((nbits + 8) / 8, 0x5A), 1,
                                                         nbits + 1, metric),
                   "dimension"});
    out.push_back({a_dense_source(nbits, chutoro::dense_metric::manhattan), "kind"});
    return out;
  };
  return c;
}

std::vector<growth_case> all_cases() {
  using chutoro::bit_metric;
  using chutoro::dense_metric;
  using chutoro::product_metric;
  return {dense_case(dense_metric::euclidean, 5),
          dense_case(dense_metric::euclidean, 19),
          dense_case(dense_metric::cosine, 7),
          dense_case(dense_metric::cosine, 33),
          dense_case(dense_metric::manhattan, 16),
          dense_case(dense_metric::manhattan, 3),
          string_case(),
          set_case(),
          bit_case(bit_metric::hamming, 70),
          bit_case(bit_metric::hamming, 8),
          bit_case(bit_metric::tanimoto, 70),
          bit_case(bit_metric::tanimoto, 129),
          product_case(product_metric::inner_product, 6),
          product_case(product_metric::inner_product, 20),
          product_case(product_metric::angular, 6),
          product_case(product_metric::angular, 20)};
}

/// Every distance of `s` (n x n, row-major).
std::vector<float> all_distances(const chutoro::data_source& s) {
  std::vector<float> d;
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t j = 0; j < s.size(); ++j) d.push_back(s.distance(i, j));
  return d;
}

/// `grown` has the first grown.size() items of `whole`: same distances, bit for bit.
void expect_prefix_of(const chutoro::data_source& grown, const chutoro::data_source& whole,
                      const std::string& what) {
  ASSERT_LE(grown.size(), whole.size()) << what;
  for (std::size_t i = 0; i < grown.size(); ++i)
    for (std::size_t j = 0; j < grown.size(); ++j)
      ASSERT_TRUE(same_bits(grown.distance(i, j), whole.distance(i, j)))
          << what << ": d(" << i << ", " << j << ") after growing to " << grown.size();
}

class SourceGrowth : public ::testing::TestWithParam<growth_case> {};

TEST_P(SourceGrowth, CanGrow) {
  const growth_case& c = GetParam();
  EXPECT_TRUE(c.make(0, c.n)->can_grow());
}

TEST_P(SourceGrowth, AppendMatchesWholeSource) {
  const growth_case& c = GetParam();
  const source_ptr whole = c.make(0, c.n);
  // One append of the rest.
  for (std::size_t split : {std::size_t{1}, std::size_t{10}, c.n - 1}) {
    source_ptr s = c.make(0, split);
    s->append(*c.make(split, c.n));
    ASSERT_EQ(s->size(), c.n);
    EXPECT_EQ(s->name(), whole->name());
    EXPECT_EQ(s->dim(), whole->dim());
    expect_prefix_of(*s, *whole, "split at " + std::to_string(split));
  }
  // Several appends of uneven sizes (capacity grows several times), checked after each.
  const std::vector<std::size_t> cuts = {2, 3, 4, 5, 9, 10, 17, c.n};
  source_ptr s = c.make(0, cuts[0]);
  for (std::size_t k = 1; k < cuts.size(); ++k) {
    s->append(*c.make(cuts[k - 1], cuts[k]));
    ASSERT_EQ(s->size(), cuts[k]);
    expect_prefix_of(*s, *whole, "append #" + std::to_string(k));
  }
  // One item at a time.
  source_ptr one = c.make(0, 1);
  for (std::size_t i = 1; i < c.n; ++i) one->append(*c.make(i, i + 1));
  expect_prefix_of(*one, *whole, "one item at a time");
  ASSERT_EQ(one->size(), c.n);
}

TEST_P(SourceGrowth, AppendToItself) {
  const growth_case& c = GetParam();
  // s = items [0, 6); s.append(s) gives items 0..5, 0..5: d(6 + i, j) = d(i, j).
  source_ptr s = c.make(0, 6);
  const source_ptr ref = c.make(0, 6);
  s->append(*s);
  ASSERT_EQ(s->size(), 12u);
  for (std::size_t i = 0; i < 12; ++i)
    for (std::size_t j = 0; j < 12; ++j)
      ASSERT_TRUE(same_bits(s->distance(i, j), ref->distance(i % 6, j % 6))) << i << ", " << j;
  s->append(*s);  // now with spare capacity on some kinds
  ASSERT_EQ(s->size(), 24u);
  for (std::size_t i = 0; i < 24; ++i)
    for (std::size_t j = 0; j < 24; ++j)
      ASSERT_TRUE(same_bits(s->distance(i, j), ref->distance(i % 6, j % 6))) << i << ", " << j;
}

TEST_P(SourceGrowth, CrossDistanceMatchesConcatenation) {
  const growth_case& c = GetParam();
  const source_ptr whole = c.make(0, c.n);
  for (std::size_t split : {std::size_t{1}, std::size_t{9}, c.n - 1}) {
    const source_ptr base = c.make(0, split), outside = c.make(split, c.n);
    EXPECT_NO_THROW(base->check_compatible(*outside));
    EXPECT_NO_THROW(outside->check_compatible(*base));
    for (std::size_t i = 0; i < outside->size(); ++i)
      for (std::size_t j = 0; j < base->size(); ++j) {
        ASSERT_TRUE(same_bits(base->cross_distance(*outside, i, j), whole->distance(split + i, j)))
            << "split " << split << ", outside item " << i << ", item " << j;
        ASSERT_TRUE(same_bits(outside->cross_distance(*base, j, i), whole->distance(j, split + i)));
      }
  }
  // Against a grown source too: its items after the first append.
  source_ptr grown = c.make(0, 4);
  grown->append(*c.make(4, 12));
  const source_ptr outside = c.make(12, c.n);
  for (std::size_t i = 0; i < outside->size(); ++i)
    for (std::size_t j = 0; j < grown->size(); ++j)
      ASSERT_TRUE(same_bits(grown->cross_distance(*outside, i, j), whole->distance(12 + i, j)));
}

TEST_P(SourceGrowth, IncompatibleSourcesAreRejectedAndChangeNothing) {
  const growth_case& c = GetParam();
  source_ptr s = c.make(0, 10);
  s->append(*c.make(10, 13));  // a grown source, possibly with spare capacity
  const std::vector<float> before = all_distances(*s);
  std::vector<mismatch> others = c.mismatches();
  ASSERT_FALSE(others.empty());
  for (const mismatch& m : others) {
    ASSERT_NE(m.source, nullptr);
    for (int op = 0; op < 2; ++op) {
      try {
        if (op == 0)
          s->check_compatible(*m.source);
        else
          s->append(*m.source);
        ADD_FAILURE() << c.label << " accepted " << m.source->name() << " (expected a different " << m.what
                      << ")";
      } catch (const chutoro::error& e) {
        EXPECT_EQ(e.code(), chutoro::error_code::type_mismatch) << e.what();
        const std::string msg = e.what();
        EXPECT_NE(msg.find("different " + m.what), std::string::npos) << msg;
        EXPECT_NE(msg.find("'" + s->name() + "'"), std::string::npos) << msg;         // names this source
        EXPECT_NE(msg.find("'" + m.source->name() + "'"), std::string::npos) << msg;  // and the other
        EXPECT_NE(msg.find("dim " + std::to_string(s->dim())), std::string::npos) << msg;
        EXPECT_NE(msg.find("dim " + std::to_string(m.source->dim())), std::string::npos) << msg;
      }
    }
    ASSERT_EQ(s->size(), 13u) << "a rejected append changed the size";
    const std::vector<float> after = all_distances(*s);
    for (std::size_t k = 0; k < before.size(); ++k) ASSERT_TRUE(same_bits(before[k], after[k])) << k;
  }
  // The source still grows afterwards.
  s->append(*c.make(13, c.n));
  expect_prefix_of(*s, *c.make(0, c.n), "append after rejected appends");
}

TEST_P(SourceGrowth, TruncateUndoesAppend) {
  const growth_case& c = GetParam();
  const source_ptr whole = c.make(0, c.n);
  source_ptr s = c.make(0, 8);
  s->append(*c.make(8, 15));
  s->truncate(20);  // beyond size(): nothing changes
  ASSERT_EQ(s->size(), 15u);
  s->truncate(8);
  ASSERT_EQ(s->size(), 8u);
  expect_prefix_of(*s, *whole, "after truncate(8)");
  s->truncate(5);  // below the size it was built with
  ASSERT_EQ(s->size(), 5u);
  expect_prefix_of(*s, *whole, "after truncate(5)");
  s->append(*c.make(5, c.n));  // and it grows again
  ASSERT_EQ(s->size(), c.n);
  expect_prefix_of(*s, *whole, "append after truncate");
}

INSTANTIATE_TEST_SUITE_P(BuiltIn, SourceGrowth, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<growth_case>& info) { return info.param.label; });

/// A source that cannot grow (as a plugin or a Python callable).
class fixed_source final : public chutoro::data_source {
 public:
  std::size_t size() const noexcept override { return 3; }
  std::string name() const override { return "fixed_test_metric"; }
  float distance(std::size_t i, std::size_t j) const override { return i == j ? 0.0f : 1.0f; }
};

void expect_unsupported(const std::function<void()>& f, const std::string& phrase) {
  try {
    f();
    ADD_FAILURE() << "no error; expected unsupported (" << phrase << ")";
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), chutoro::error_code::unsupported) << e.what();
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'fixed_test_metric'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(phrase), std::string::npos) << msg;
    EXPECT_NE(msg.find("(only built-in sources can "), std::string::npos) << msg;
  }
}

TEST(SourceGrowthFixed, SourcesThatCannotGrowSaySo) {
  fixed_source f;
  const fixed_source g;
  EXPECT_FALSE(f.can_grow());
  expect_unsupported([&] { f.check_compatible(g); }, "cannot grow");
  expect_unsupported([&] { f.check_compatible(f); }, "cannot grow");
  expect_unsupported([&] { f.append(g); }, "cannot append");
  expect_unsupported([&] { (void)f.cross_distance(g, 0, 0); }, "cannot measure");
  expect_unsupported([&] { f.truncate(1); }, "cannot remove");
  const source_ptr dense = a_dense_source(4, chutoro::dense_metric::euclidean);
  expect_unsupported([&] { f.append(*dense); }, "cannot append");
  expect_unsupported([&] { (void)f.cross_distance(*dense, 0, 0); }, "cannot measure");
  EXPECT_EQ(f.size(), 3u);
  // A built-in source rejects it as another kind.
  try {
    dense->append(f);
    ADD_FAILURE() << "dense_source appended a fixed_source";
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), chutoro::error_code::type_mismatch);
    EXPECT_NE(std::string(e.what()).find("'fixed_test_metric' (a source of another kind, dim 0)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(dense->size(), 2u);
}

/// Counts how often `address()` changes over `steps` single-item appends: with
/// geometric growth, O(log steps) reallocations instead of one per append.
std::size_t reallocations(chutoro::data_source& s, const chutoro::data_source& item, std::size_t steps,
                          const std::function<const void*()>& address) {
  std::size_t moves = 0;
  const void* last = address();
  for (std::size_t k = 0; k < steps; ++k) {
    s.append(item);
    if (address() != last) ++moves, last = address();
  }
  return moves;
}

TEST(SourceGrowthCapacity, DenseRowsStayAlignedAndPaddedAndGrowthIsAmortised) {
  for (auto metric : {chutoro::dense_metric::euclidean, chutoro::dense_metric::cosine}) {
    const std::size_t dim = 21;
    const auto values = random_values(3, dim, 1.0f, 77);
    chutoro::dense_source s(values, 3, dim, metric);
    const chutoro::dense_source one(std::span<const float>(values).subspan(dim, dim), 1, dim, metric);
    const std::size_t moves = reallocations(s, one, 2000, [&] { return static_cast<const void*>(s.row(0)); });
    EXPECT_LE(moves, 12u) << "2000 single-row appends reallocated " << moves << " times";
    ASSERT_EQ(s.size(), 2003u);
    ASSERT_EQ(s.stride(), 32u);
    for (std::size_t i = 0; i < s.size(); ++i) {
      ASSERT_EQ(reinterpret_cast<std::uintptr_t>(s.row(i)) % 64, 0u) << "row " << i;
      for (std::size_t k = dim; k < s.stride(); ++k)
        ASSERT_EQ(s.row(i)[k], 0.0f) << "row " << i << " pad " << k;
      if (i >= 3)
        ASSERT_TRUE(same_bits(s.distance(i, 0), s.distance(1, 0))) << i;  // every appended row is row 1
    }
  }
}

TEST(SourceGrowthCapacity, VectorBackedSourcesGrowGeometrically) {
  {
    chutoro::string_source s(std::vector<std::string>{"kitten", "sitting"});
    const chutoro::string_source one(std::vector<std::string>{"mitten"});
    EXPECT_LE(reallocations(s, one, 2000, [&] { return static_cast<const void*>(s.item(0).data()); }), 14u);
    EXPECT_EQ(s.size(), 2002u);
    EXPECT_EQ(s.distance(0, 2001), 1.0f);
  }
  {
    const std::vector<std::uint32_t> ids = {1, 2, 3, 4};
    const std::vector<std::size_t> offsets = {0, 2, 4};
    chutoro::set_source s(ids, offsets);
    const std::vector<std::size_t> off1 = {0, 2};
    const chutoro::set_source one(std::span<const std::uint32_t>(ids).first(2), off1);
    EXPECT_LE(reallocations(s, one, 2000, [&] { return static_cast<const void*>(s.item(0).data()); }), 14u);
    EXPECT_EQ(s.size(), 2002u);
    EXPECT_EQ(s.distance(0, 2001), 0.0f);
  }
  {
    const std::vector<std::uint8_t> packed = {0xFF, 0x01, 0x80, 0x00};
    chutoro::bit_source s(packed, 2, 16, chutoro::bit_metric::hamming);
    const chutoro::bit_source one(std::span<const std::uint8_t>(packed).first(2), 1, 16,
                                  chutoro::bit_metric::hamming);
    EXPECT_LE(reallocations(s, one, 2000, [&] { return static_cast<const void*>(s.row(0)); }), 14u);
    EXPECT_EQ(s.size(), 2002u);
    EXPECT_EQ(s.distance(1, 2001), 8.0f);
  }
  {
    const auto values = random_values(2, 5, 1.0f, 3);
    chutoro::product_source s(values, 2, 5, chutoro::product_metric::angular);
    const chutoro::product_source one(std::span<const float>(values).first(5), 1, 5,
                                      chutoro::product_metric::angular);
    EXPECT_LE(reallocations(s, one, 2000, [&] { return static_cast<const void*>(s.row(0)); }), 14u);
    EXPECT_EQ(s.size(), 2002u);
    EXPECT_TRUE(same_bits(s.distance(1, 2001), s.distance(1, 0)));
  }
}

}  // namespace

namespace {

/// rows_normalized: a source rebuilt from another's stored rows (as a saved model
/// does) measures bit for bit what the original measures, and still grows alike.
TEST(SourceGrowthRowsNormalized, RebuiltFromStoredRowsIsBitIdentical) {
  const std::size_t n = 9, dim = 13;
  const auto values = random_values(n, dim, 1.0f, 91);
  auto stored = [&](const auto& s) {
    std::vector<float> v;
    for (std::size_t i = 0; i < s.size(); ++i) v.insert(v.end(), s.row(i), s.row(i) + dim);
    return v;
  };
  for (auto metric : {chutoro::dense_metric::cosine, chutoro::dense_metric::euclidean}) {
    const chutoro::dense_source original(values, n, dim, metric);
    chutoro::dense_source rebuilt(stored(original), n, dim, metric, chutoro::rows_normalized);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j)
        ASSERT_TRUE(same_bits(rebuilt.distance(i, j), original.distance(i, j)));
    rebuilt.check_compatible(original);
    rebuilt.append(original);
    EXPECT_TRUE(same_bits(rebuilt.distance(n + 2, 5), original.distance(2, 5)));
  }
  for (auto metric : {chutoro::product_metric::angular, chutoro::product_metric::inner_product}) {
    const chutoro::product_source original(values, n, dim, metric);
    const chutoro::product_source rebuilt(stored(original), n, dim, metric, chutoro::rows_normalized);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j)
        ASSERT_TRUE(same_bits(rebuilt.distance(i, j), original.distance(i, j)));
  }
  // Rows that are not unit length are refused for cosine / angular (not for the others).
  try {
    chutoro::dense_source bad(values, n, dim, chutoro::dense_metric::cosine, chutoro::rows_normalized);
    ADD_FAILURE() << "accepted rows that are not normalised";
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), chutoro::error_code::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("row 0 is not normalised"), std::string::npos) << e.what();
  }
  EXPECT_THROW(
      chutoro::product_source(values, n, dim, chutoro::product_metric::angular, chutoro::rows_normalized),
      chutoro::error);
  EXPECT_NO_THROW(
      chutoro::dense_source(values, n, dim, chutoro::dense_metric::manhattan, chutoro::rows_normalized));
}

}  // namespace
