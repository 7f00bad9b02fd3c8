// The token vocabulary of set_source (include/chutoro/metrics.hpp) and its
// place in model files (docs/model_format.md, format version 4).
//
// What the tests prove:
//  - TokenVocabulary.FromTokenLines: tokens are numbered by first appearance
//    and kept; with a given vocabulary its tokens keep their ids and new ones
//    number on after it.
//  - TokenVocabulary.Validation: an id beyond the vocabulary, an empty or
//    blank-holding token and a duplicate token are refused, naming them.
//  - TokenVocabulary.Append: appending a source numbered from this one's
//    vocabulary extends it; any other source drops it.
//  - TokenVocabulary.ModelFileRoundTrip: a model's vocabulary survives
//    to_bytes/from_bytes, grows with add(), and a version 1 sets file (no
//    vocabulary) still loads, with none.
//  - TokenVocabulary.BadVocabularyInAFileIsAParseError: a duplicate token or
//    a count beyond the section is error(parse) naming the file and field.
#include <gtest/gtest.h>

#include <chutoro/error.hpp>
#include <chutoro/metrics.hpp>
#include <chutoro/model.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "model_file_bytes.hpp"

namespace {

using chutoro_test::model_file_bytes;
using strings = std::vector<std::string>;

strings vocab(const chutoro::set_source& s) { return {s.vocabulary().begin(), s.vocabulary().end()}; }
std::vector<std::uint32_t> ids(const chutoro::set_source& s, std::size_t i) {
  return {s.item(i).begin(), s.item(i).end()};
}

TEST(TokenVocabulary, FromTokenLines) {
  const strings lines{"b a b", "", "c a"};
  const auto s = chutoro::set_source::from_token_lines(lines);
  EXPECT_EQ(vocab(s), (strings{"b", "a", "c"}));
  EXPECT_EQ(ids(s, 0), (std::vector<std::uint32_t>{0, 1}));
  EXPECT_TRUE(ids(s, 1).empty());
  EXPECT_EQ(ids(s, 2), (std::vector<std::uint32_t>{1, 2}));
  // Numbered from s's vocabulary: "c" stays 2, "a" 1; "d" is new (3).
  const auto t = chutoro::set_source::from_token_lines(strings{"d c", "a"}, s.vocabulary());
  EXPECT_EQ(vocab(t), (strings{"b", "a", "c", "d"}));
  EXPECT_EQ(ids(t, 0), (std::vector<std::uint32_t>{2, 3}));
  EXPECT_EQ(ids(t, 1), (std::vector<std::uint32_t>{1}));
  EXPECT_FLOAT_EQ(s.cross_distance(t, 1, 2), 0.5f);  // {a} vs {a, c}
  EXPECT_THROW((void)chutoro::set_source::from_token_lines(strings{"a"}, strings{"x", "x"}), chutoro::error);
  // Ids given as numbers carry no vocabulary.
  const std::vector<std::uint32_t> raw{0, 1};
  const std::vector<std::size_t> offsets{0, 2};
  EXPECT_TRUE(chutoro::set_source(raw, offsets).vocabulary().empty());
}

TEST(TokenVocabulary, Validation) {
  const std::vector<std::uint32_t> raw{0, 2};
  const std::vector<std::size_t> offsets{0, 1, 2};
  EXPECT_EQ(vocab(chutoro::set_source(raw, offsets, {"a", "b", "c"})), (strings{"a", "b", "c"}));
  auto message = [&](strings v) {
    try {
      (void)chutoro::set_source(raw, offsets, std::move(v));
    } catch (const chutoro::error& e) {
      EXPECT_EQ(e.code(), chutoro::error_code::invalid_argument);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message({"a", "b"}).find("item 1 (0-based) holds id 2, beyond the vocabulary's 2 tokens"),
            std::string::npos)
      << message({"a", "b"});
  EXPECT_NE(message({"a", "", "c"}).find("token 1 (0-based) is empty"), std::string::npos);
  EXPECT_NE(message({"a", "b c", "d"}).find("token 1 (0-based) is not one token"), std::string::npos);
  EXPECT_NE(message({"a", "b", "a"}).find("tokens 0 and 2 (0-based) are the same"), std::string::npos);
}

TEST(TokenVocabulary, Append) {
  auto s = chutoro::set_source::from_token_lines(strings{"a b", "b c"});
  s.append(chutoro::set_source::from_token_lines(strings{"c d"}, s.vocabulary()));
  EXPECT_EQ(vocab(s), (strings{"a", "b", "c", "d"}));
  EXPECT_EQ(ids(s, 2), (std::vector<std::uint32_t>{2, 3}));
  s.append(s);  // itself: unchanged vocabulary
  EXPECT_EQ(vocab(s), (strings{"a", "b", "c", "d"}));
  // Numbered independently: "x" would read as "a"; the vocabulary no longer names the ids.
  auto u = s;
  u.append(chutoro::set_source::from_token_lines(strings{"x"}));
  EXPECT_TRUE(u.vocabulary().empty());
  auto w = s;
  const std::vector<std::uint32_t> raw{7};
  const std::vector<std::size_t> offsets{0, 1};
  w.append(chutoro::set_source(raw, offsets));
  EXPECT_TRUE(w.vocabulary().empty());
}

TEST(TokenVocabulary, ModelFileRoundTrip) {
  strings lines;
  for (int i = 0; i < 30; ++i) lines.push_back("a b t" + std::to_string(i));
  for (int i = 0; i < 30; ++i) lines.push_back("x y u" + std::to_string(i));
  chutoro::params p;
  p.selection.min_cluster_size = 5;
  p.build.candidates = chutoro::candidate_mode::hnsw;
  chutoro::model m(std::make_shared<chutoro::set_source>(chutoro::set_source::from_token_lines(lines)), p);
  const auto& fitted = static_cast<const chutoro::set_source&>(m.data());
  ASSERT_EQ(fitted.vocabulary().size(), 64u);
  const auto bytes = m.to_bytes();
  const chutoro::model back = chutoro::model::from_bytes(bytes);
  EXPECT_EQ(vocab(static_cast<const chutoro::set_source&>(back.data())), vocab(fitted));
  EXPECT_EQ(back.to_bytes(), bytes);
  // add() with new tokens numbered from the model's vocabulary: they are kept.
  m.add(chutoro::set_source::from_token_lines(strings{"x y new1", "new2 a"}, fitted.vocabulary()));
  const auto grown =
      vocab(static_cast<const chutoro::set_source&>(chutoro::model::from_bytes(m.to_bytes()).data()));
  ASSERT_EQ(grown.size(), 66u);
  EXPECT_EQ(grown[64], "new1");
  EXPECT_EQ(grown[65], "new2");
  // A file from before version 4 (the fuzz corpus' version 1 sets model) has none.
  std::ifstream in(std::filesystem::path(CHUTORO_OLD_MODEL_FILES) / "sets_hnsw.chutoro", std::ios::binary);
  const std::string old((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(old.empty());
  const auto* b = reinterpret_cast<const std::byte*>(old.data());
  const chutoro::model o = chutoro::model::from_bytes(std::vector<std::byte>(b, b + old.size()));
  EXPECT_EQ(o.data().kind(), chutoro::source_kind::sets);
  EXPECT_TRUE(static_cast<const chutoro::set_source&>(o.data()).vocabulary().empty());
}

TEST(TokenVocabulary, BadVocabularyInAFileIsAParseError) {
  strings lines;
  for (int i = 0; i < 12; ++i) lines.push_back(i % 2 ? "aa bb" : "bb cc");
  chutoro::params p;
  p.selection.min_cluster_size = 2;
  p.build.candidates = chutoro::candidate_mode::exact;
  const chutoro::model m(std::make_shared<chutoro::set_source>(chutoro::set_source::from_token_lines(lines)),
                         p);
  const auto bytes = m.to_bytes();
  auto message = [](const std::vector<std::byte>& b) {
    try {
      (void)chutoro::model::from_bytes(b, nullptr, "v.chutoro");
    } catch (const chutoro::error& e) {
      EXPECT_EQ(e.code(), chutoro::error_code::parse);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  model_file_bytes f(bytes);
  auto data = f.payload_bytes("DATA");
  // The vocabulary ends DATA: count 3, then "bb", "cc", "aa" (first appearance), each after its u64 length.
  ASSERT_EQ(std::string(reinterpret_cast<const char*>(data.data()) + data.size() - 2, 2), "aa");
  auto dup = data;
  std::memcpy(dup.data() + dup.size() - 2, "bb", 2);
  const std::string d = message(model_file_bytes(bytes).replace_payload("DATA", dup).bytes());
  EXPECT_NE(d.find("v.chutoro"), std::string::npos) << d;
  EXPECT_NE(d.find("vocabulary tokens 0 and 2 (0-based) are the same"), std::string::npos) << d;
  auto huge = data;
  const std::size_t at = huge.size() - 3 * 10 - 8;  // the count, before 3 tokens of 8 + 2 bytes
  const std::uint64_t big = std::uint64_t{1} << 40;
  std::memcpy(huge.data() + at, &big, 8);
  const std::string h = message(model_file_bytes(bytes).replace_payload("DATA", huge).bytes());
  EXPECT_NE(h.find("vocabulary count"), std::string::npos) << h;
}

}  // namespace
