// chutoro — input readers (CSV, NPY, one-item-per-line text) and the atomic
// writer of clustering results.
//
// Every reader loads the whole file at once, validates everything and throws
// chutoro::error whose message starts with the file's path and names the place
// (CSV: 1-based line number as a text editor shows it, column name and 1-based
// index; NPY: the 0-based array index X[i, j]) and the problem.
//
// Error codes: io (missing, unreadable or unwritable file), parse (malformed
// contents: empty input, NaN/Inf, ragged rows, non-numeric cells, bad quoting,
// truncated data), type_mismatch (NPY dtype, rank or memory order),
// invalid_argument (unknown label column, unknown format name or extension).
//
// Thread safety: all functions are reentrant; they share no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace chutoro {

/// Input file formats (stable values).
enum class input_format : int {
  csv = 0,      ///< comma-separated, header row, numeric feature columns
  npy = 1,      ///< NumPy .npy, 2-D float32/float64, C order
  lines = 2,    ///< UTF-8 text, one item (string) per line
  parquet = 3,  ///< Apache Parquet, one column (chutoro/arrow.hpp; needs a build with Arrow)
  arrow = 4,    ///< Arrow IPC file or stream / Feather v2, one column (chutoro/arrow.hpp)
};

/// Parses "csv" | "npy" | "lines" | "parquet" | "arrow"; throws error(invalid_argument) otherwise.
input_format parse_input_format(std::string_view name);
[[nodiscard]] std::string_view to_string(input_format f) noexcept;

/// Format from the file extension, case-insensitively, after a trailing .gz or .zst:
/// .csv, .tsv, .tab -> csv; .npy -> npy;
/// .txt, .lines, .lst -> lines; .parquet, .pq -> parquet; .arrow, .feather,
/// .ipc, .arrows -> arrow. Throws error(invalid_argument) naming the file
/// for any other extension. Does not open the file.
input_format detect_format(const std::filesystem::path& path);

/// A dense n x dim table read from a file.
struct dense_table {
  std::vector<float> values;         ///< n * dim float32, row-major
  std::size_t n = 0;                 ///< rows (items), >= 1
  std::size_t dim = 0;               ///< feature columns, >= 1
  std::vector<std::string> columns;  ///< dim feature column names (NPY: "0", "1", ...)
  std::vector<std::string> labels;   ///< n label strings when a label column was read, else empty
};

/// Reads a CSV file (RFC 4180: comma separator, double-quoted cells with ""
/// escapes, quoted cells may span lines; LF, CRLF or CR-only (old Mac) line
/// ends; a UTF-8 BOM is skipped). The first record is the header and is required: a first record
/// whose cells are all numbers is rejected as missing its header, except for
/// pandas' default names "0", "1", ..., "dim-1". Blank lines are skipped
/// anywhere. Cells may carry spaces or tabs around the number. Every column
/// except `label_column` must hold finite numbers that fit float32 (parsed with
/// std::from_chars; "nan", "inf" and empty cells are rejected). The label
/// column's cells are kept verbatim (after unquoting) as strings.
/// Throws error (see above): io, parse (no data rows, ragged row, bad cell,
/// unterminated quote), invalid_argument (label_column not in the header, or
/// named twice). O(file size) time; memory: the file plus n*dim floats.
/// The file may be gzip- or zstd-compressed (told by its magic bytes), and "-"
/// reads standard input (read_whole_input).
/// `options` as csv_options says.
struct csv_options {
  /// The cell separator; 0 takes default_delimiter(path): a tab for .tsv / .tab
  /// files (then tabs are not trimmed around cells), else a comma.
  char delimiter = 0;
  /// Empty and NaN cells become NaN values instead of an error (for callers that
  /// then drop or label such rows, as the CLI's --nan-rows noise).
  bool missing_as_nan = false;
  /// Feature columns to read, by header name, in file order (empty: all); the
  /// others are skipped unparsed. A name not in the header: error(invalid_argument).
  std::vector<std::string> columns;
  /// Columns to skip unparsed, by header name (e.g. an id or a text column).
  std::vector<std::string> ignore_columns;
};
dense_table read_csv(const std::filesystem::path& path,
                     std::optional<std::string_view> label_column = std::nullopt,
                     const csv_options& options = {});

/// '\t' for a .tsv or .tab file (also .tsv.gz, .tsv.zst), else ','.
[[nodiscard]] char default_delimiter(const std::filesystem::path& path);

/// Reads a NumPy .npy file (format versions 1.0, 2.0 and 3.0): a 2-D array of
/// dtype float32 ('<f4', '>f4') or float64 ('<f8', '>f8', converted to float32),
/// C order. Column names are "0" .. "dim-1"; labels stay empty.
/// Throws error: io; parse (bad magic or header, truncated data, trailing bytes
/// after the data, n or dim zero, NaN/Inf, float64 values beyond float32's
/// range); type_mismatch (other dtypes, named; rank != 2; Fortran order).
/// `missing_as_nan`: NaN values are kept (for callers that drop or label such
/// rows, as the CLI's --nan-rows noise) instead of an error; infinities still fail.
dense_table read_npy(const std::filesystem::path& path, bool missing_as_nan = false);

/// One part of a .npy file's rows (read_npy_part).
struct npy_part {
  dense_table table;           ///< the part's rows (table.n may be 0 when parts > rows)
  std::size_t first_row = 0;   ///< the file's row that is table's row 0 (0-based)
  std::size_t total_rows = 0;  ///< rows in the whole file
};
/// Reads part `part` of `parts` of a .npy file as read_npy does, without
/// reading the other rows: rows [part * n / parts, (part + 1) * n / parts)
/// (n the file's rows), found by seeking past the header and the rows before
/// (a distributed run's ranks each read their own part, docs/distributed.md).
/// Errors as read_npy, naming rows by their index in the whole file; bytes
/// after the data are checked only by the last part. error(invalid_argument)
/// when part >= parts or parts == 0.
npy_part read_npy_part(const std::filesystem::path& path, std::size_t part, std::size_t parts);

/// Reads UTF-8 text, one item per line: lines end with "\n", "\r\n" or a lone
/// "\r" (old Mac files), a leading UTF-8 BOM is skipped. Lines are kept
/// verbatim, empty ones included (an empty line is an empty-string item), with
/// one exception: the empty piece after a final line terminator is not an item,
/// so "a\nb\n", "a\nb" and "a\rb\r" give {"a", "b"}, while "a\n\nb\n" gives {"a", "", "b"}.
/// UTF-8 validity is not checked here (string_source checks it).
/// Throws error: io; parse when the file holds no item (zero bytes or a BOM only).
std::vector<std::string> read_lines(const std::filesystem::path& path);

/// Writes `label,probability,outlier_score` with a header and one row per item
/// in input order. A new or existing regular file (also through a symbolic
/// link) is replaced atomically: the rows go to a new temporary file in the
/// same directory (".<name>.tmp-<pid>-<k>"), which is fsync'ed and renamed over
/// the file, then the directory is fsync'ed; so a reader sees either the old
/// file or the complete new one, on any failure the temporary file is removed
/// and `path` is left untouched, and a replaced file keeps its mode (and,
/// where permitted, owner). A FIFO or a character device (/dev/null, a
/// terminal) is written through, never replaced; "-" is standard output.
/// Doubles are written with std::to_chars (shortest round-trip form).
/// Throws error(invalid_argument) when the three spans differ in size,
/// error(io) naming the file when it cannot be written or is a directory,
/// block device or socket.
void write_clustering_csv(const std::filesystem::path& path, std::span<const std::int32_t> labels,
                          std::span<const double> probabilities, std::span<const double> outlier_scores);

/// Writes `label,probability` (model::approximate_predict's result), one row
/// per item, atomically as write_clustering_csv. Throws error(invalid_argument)
/// when the spans differ in size, error(io) naming the file.
void write_prediction_csv(const std::filesystem::path& path, std::span<const std::int32_t> labels,
                          std::span<const double> probabilities);

/// Writes `label,probability,outlier_score,membership_0,...,membership_{k-1}`
/// (model::approximate_predict with soft membership: `membership` is
/// row-major labels.size() x k), one row per item, atomically as
/// write_clustering_csv. Throws error(invalid_argument) when the sizes
/// disagree, error(io) naming the file.
void write_soft_prediction_csv(const std::filesystem::path& path, std::span<const std::int32_t> labels,
                               std::span<const double> probabilities, std::span<const double> outlier_scores,
                               std::span<const double> membership, std::size_t k);

}  // namespace chutoro
