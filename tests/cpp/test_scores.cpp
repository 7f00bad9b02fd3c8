// Tests of adjusted_rand_index and adjusted_mutual_info against cases worked by
// hand and values printed by scikit-learn 1.9.1
// (sklearn.metrics.adjusted_rand_score / adjusted_mutual_info_score, defaults).
#include <gtest/gtest.h>

#include <chutoro/error.hpp>
#include <chutoro/scores.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using labels = std::vector<std::int32_t>;

double ari(const labels& a, const labels& b) { return chutoro::adjusted_rand_index(a, b); }
double ami(const labels& a, const labels& b) { return chutoro::adjusted_mutual_info(a, b); }

constexpr double tol = 1e-12;

}  // namespace

TEST(Scores, IdenticalAndRelabelledPartitionsScoreOne) {
  EXPECT_DOUBLE_EQ(ari({0, 0, 1, 1}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(ari({0, 0, 1, 1}, {1, 1, 0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(ami({0, 0, 1, 1}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(ami({0, 0, 1, 1}, {1, 1, 0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(ari({0, 0, 0}, {5, 5, 5}), 1.0);
  EXPECT_DOUBLE_EQ(ami({0, 0, 0}, {5, 5, 5}), 1.0);
  EXPECT_DOUBLE_EQ(ari({3}, {7}), 1.0);
  EXPECT_DOUBLE_EQ(ami({3}, {7}), 1.0);
  EXPECT_DOUBLE_EQ(ari({}, {}), 1.0);
  EXPECT_DOUBLE_EQ(ami({}, {}), 1.0);
}

TEST(Scores, SplitOneClassByHand) {
  // a = {0,0,1,2}, b = {0,0,1,1}: pairs together in both: 1 (items 0,1);
  // in a: C(2,2) = 1; in b: C(2,2) + C(2,2) = 2; of C(4,2) = 6 pairs.
  // Expected index 1*2/6 = 1/3, max (1+2)/2 = 3/2:
  // ARI = (1 - 1/3) / (3/2 - 1/3) = 4/7. scikit-learn: 0.5714285714285714 (ARI and AMI).
  EXPECT_NEAR(ari({0, 0, 1, 2}, {0, 0, 1, 1}), 4.0 / 7.0, tol);
  EXPECT_NEAR(ari({0, 0, 1, 1}, {0, 0, 1, 2}), 4.0 / 7.0, tol);  // symmetric
  EXPECT_NEAR(ami({0, 0, 1, 2}, {0, 0, 1, 1}), 0.5714285714285714, tol);
  EXPECT_NEAR(ami({0, 0, 1, 1}, {0, 0, 1, 2}), 0.5714285714285715, tol);
}

TEST(Scores, IndependentPartitions) {
  // a = {0,0,1,1}, b = {0,1,0,1}: no pair is together in both; index 0,
  // expected 2*2/6 = 2/3, max 2: ARI = -(2/3) / (4/3) = -1/2.
  EXPECT_NEAR(ari({0, 0, 1, 1}, {0, 1, 0, 1}), -0.5, tol);
  // MI = 0, H(a) = H(b) = ln 2. E[MI] over the hypergeometric model: the table
  // {{1,1},{1,1}} (probability 4/6) has MI 0, {{2,0},{0,2}} and {{0,2},{2,0}}
  // (1/6 each) have MI ln 2, so E[MI] = ln(2)/3 and
  // AMI = -E[MI] / (ln 2 - E[MI]) = -1/2. scikit-learn: -0.49999999999999944.
  EXPECT_NEAR(ami({0, 0, 1, 1}, {0, 1, 0, 1}), -0.5, 1e-12);
}

TEST(Scores, OneSideConstant) {
  // scikit-learn: ARI 0.0, AMI 0.0 for both.
  EXPECT_NEAR(ari({0, 0, 0, 0}, {0, 1, 2, 3}), 0.0, tol);
  EXPECT_NEAR(ami({0, 0, 0, 0}, {0, 1, 2, 3}), 0.0, tol);
  EXPECT_NEAR(ari({0, 0, 0, 0}, {0, 0, 1, 1}), 0.0, tol);
  EXPECT_NEAR(ami({0, 0, 0, 0}, {0, 0, 1, 1}), 0.0, tol);
}

TEST(Scores, NoiseIsAnOrdinaryLabel) {
  // scikit-learn: adjusted_rand_score = 0.52, adjusted_mutual_info_score = 0.5639232267504809.
  const labels truth{0, 0, 0, 1, 1, 1, 2, 2, 2};
  const labels pred{0, 0, -1, 1, 1, 1, -1, -1, 2};
  EXPECT_NEAR(ari(truth, pred), 0.52, tol);
  EXPECT_NEAR(ami(truth, pred), 0.5639232267504809, tol);
}

TEST(Scores, MatchesScikitLearnOnGeneratedLabels) {
  labels a, b;
  // a[i] = (7i + 3) % 5, b[i] = (13 i^2 + 5) % 8 - 1, n = 200.
  for (std::int64_t i = 0; i < 200; ++i) {
    a.push_back(static_cast<std::int32_t>((i * 7 + 3) % 5));
    b.push_back(static_cast<std::int32_t>((i * i * 13 + 5) % 8 - 1));
  }
  EXPECT_NEAR(ari(a, b), -0.011965300628178284, tol);
  EXPECT_NEAR(ami(a, b), -0.01570572015659989, 1e-10);

  a.clear();
  b.clear();
  // a[i] = (31 i % 97) % 10, b[i] = (17 i + i / 7) % 13 - 1, n = 3000.
  for (std::int64_t i = 0; i < 3000; ++i) {
    a.push_back(static_cast<std::int32_t>((i * 31 % 97) % 10));
    b.push_back(static_cast<std::int32_t>((i * 17 + i / 7) % 13 - 1));
  }
  EXPECT_NEAR(ari(a, b), -0.0032905643015500316, tol);
  EXPECT_NEAR(ami(a, b), -0.0072037783330663645, 1e-10);

  a.clear();
  b.clear();
  // Correlated: a[i] = i % 6; b[i] = a[i] except every 5th, which is (i / 5) % 9 - 1.
  for (std::int32_t i = 0; i < 3000; ++i) {
    a.push_back(i % 6);
    b.push_back(i % 5 ? i % 6 : (i / 5) % 9 - 1);
  }
  EXPECT_NEAR(ari(a, b), 0.6821931236313072, tol);
  EXPECT_NEAR(ami(a, b), 0.7116354935755222, 1e-10);
}

TEST(Scores, LengthMismatchThrows) {
  EXPECT_THROW((void)ari({0, 1}, {0}), chutoro::error);
  EXPECT_THROW((void)ami({0}, {0, 1}), chutoro::error);
  try {
    (void)ami({0}, {0, 1});
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), chutoro::error_code::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("1 and 2"), std::string::npos) << e.what();
  }
}

TEST(Scores, EncodeLabelsInOrderOfFirstAppearance) {
  const std::vector<std::string> s{"b", "a", "b", "", "a", "c"};
  EXPECT_EQ(chutoro::encode_labels(s), (labels{0, 1, 0, 2, 1, 3}));
  EXPECT_TRUE(chutoro::encode_labels(std::vector<std::string>{}).empty());
}
