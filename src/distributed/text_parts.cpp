// chutoro — text_part_of (include/chutoro/distributed.hpp): each rank reads
// its byte range of a text file, cut at line starts, so that no rank reads
// the whole file.
#include <algorithm>
#include <chutoro/distributed.hpp>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "io/io_common.hpp"

namespace chutoro::distributed {
namespace {

constexpr std::uint64_t none = std::numeric_limits<std::uint64_t>::max();

/// Bytes [from, to) of the file at `path`.
std::string read_range(const std::string& path, std::uint64_t from, std::uint64_t to) {
  io_detail::input_file f(path);
  std::string out(to - from, '\0');
  if (f.skip(from) != from || f.read(out.data(), out.size()) != out.size())
    throw error(error_code::io, path + ": the file ended before byte " + std::to_string(to) +
                                    " while its part was read (was it changed during the run?)");
  return out;
}

/// Line ends in `s`: "\n", "\r\n" (once) and a lone "\r".
std::uint64_t line_ends(std::string_view s) {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    n += s[i] == '\n' || (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) ? 1 : 0;
  return n;
}

}  // namespace

text_part text_part_of(communicator& comm, const std::string& path, bool csv) {
  const auto ranks = static_cast<std::uint64_t>(comm.size());
  const auto me = static_cast<std::uint64_t>(comm.rank());
  // Stage 1, local: this rank's nominal range [b, e), the first line start in
  // it, the quotes after the header; rank 0 also finds the header's end.
  std::uint64_t size = 0, start = none, quotes = 0, header_end = 0;
  bool whole = false;
  std::string chunk;
  agree(comm, [&] {
    if (path == "-") {
      whole = true;  // standard input
      return;
    }
    {
      io_detail::input_file in(path);
      size = in.size_hint();  // 0 for pipes, devices and empty files
      unsigned char magic[4] = {0, 0, 0, 0};
      const std::size_t got = size < 2 ? 0 : in.read(magic, 4);
      if (got < 2 || io_detail::compression_of(magic, got) != io_detail::compression::none) {
        whole = true;  // gzip and zstd cannot be cut by bytes
        return;
      }
    }
    const std::uint64_t b = size * me / ranks, e = size * (me + 1) / ranks;
    // One byte before (does a line end there?) and one after (a "\r\n" cut in two).
    const std::uint64_t from = b > 0 ? b - 1 : 0;
    chunk = read_range(path, from, std::min(e + 1, size));
    const auto at = [&](std::uint64_t pos) { return chunk[pos - from]; };
    std::uint64_t count_from = b;
    if (csv && me == 0) {
      bool quoted = false;
      std::uint64_t t = 0;
      for (; t < e; ++t) {
        const char c = at(t);
        if (c == '"') quoted = !quoted;
        if (!quoted && (c == '\n' || c == '\r')) break;
      }
      if (t >= e) {
        whole = true;  // the header runs past rank 0's range: a file too small to cut
        return;
      }
      header_end = t + 1 + (at(t) == '\r' && t + 1 < size && at(t + 1) == '\n' ? 1 : 0);
      count_from = header_end;
    }
    if (csv)
      for (std::uint64_t t = count_from; t < e; ++t) quotes += at(t) == '"' ? 1 : 0;
    if (me > 0)
      for (std::uint64_t t = b; t < e; ++t) {
        const char c = at(t - 1);
        if (c == '\n' || (c == '\r' && at(t) != '\n')) {
          start = t;
          break;
        }
      }
  });

  // Stage 2: every rank learns the line starts and whether the file can be cut.
  std::vector<std::uint64_t> starts(ranks, none);
  starts[me] = start;
  comm.allreduce(starts, reduce_op::min);
  std::uint64_t flags[3] = {whole ? 1u : 0u, quotes, header_end};
  comm.allreduce(std::span<std::uint64_t>(flags, 3), reduce_op::sum);
  text_part part;
  if (flags[0] > 0 || flags[1] > 0) {
    // Not cut (gzip, not a regular file, tiny, or quoted cells that may span lines): the whole file.
    agree(comm, [&] { part.text = io_detail::read_whole_input(path); });
    return part;
  }
  const std::uint64_t h = flags[2];
  starts[0] = h;
  for (std::uint64_t k = ranks; k-- > 1;) {
    if (starts[k] == none) starts[k] = k + 1 < ranks ? starts[k + 1] : size;  // no line starts in its range
    starts[k] = std::max(starts[k], h);
  }
  std::vector<std::byte> header;
  if (me == 0 && csv) {
    header.resize(h);
    std::memcpy(header.data(), chunk.data(), h);
  }
  chunk = {};
  if (csv) comm.broadcast(header, 0);

  // Stage 3, local: this rank's lines, after the header.
  part.split = true;
  part.begin = starts[me];
  part.end = me + 1 < ranks ? starts[me + 1] : size;
  std::vector<std::uint64_t> lines(ranks, 0);
  agree(comm, [&] {
    part.text.assign(reinterpret_cast<const char*>(header.data()), header.size());
    part.text += read_range(path, part.begin, part.end);
    lines[me] = line_ends(std::string_view(part.text).substr(header.size()));
  });
  // Line numbers of the file for messages: the lines of the ranks before this one.
  comm.allreduce(lines, reduce_op::sum);
  part.header_lines =
      line_ends(std::string_view(reinterpret_cast<const char*>(header.data()), header.size()));
  part.first_line = 1 + part.header_lines;
  for (std::uint64_t k = 0; k < me; ++k) part.first_line += lines[k];
  return part;
}

}  // namespace chutoro::distributed
