// chutoro — columnar input: Arrow arrays (through the Arrow C data interface)
// and Parquet / Arrow IPC files (through Apache Arrow's C++ libraries).
//
// Two layers:
//  - arrow_column_builder (core library, no Arrow dependency) turns one column
//    given as Arrow C data interface arrays (ArrowSchema + ArrowArray, one
//    chunk at a time) into a dense table or a list of strings. This is what
//    a zero-copy producer (pyarrow's __arrow_c_array__ / __arrow_c_stream__
//    PyCapsules, or any Arrow implementation) feeds.
//  - read_parquet / read_arrow_ipc (library chutoro_arrow, optional at build
//    time) open a file with Arrow C++, read only the requested column and pass
//    it through the builder. Without Arrow they throw error(unsupported).
//
// Accepted column types:
//   FixedSizeList<float32 | float64, D>      -> dense n x D (float64 narrowed to float32)
//   List / LargeList<float32 | float64>       -> dense, every list of the same length D >= 1
//   Utf8 / LargeUtf8                          -> strings (levenshtein, jaccard over tokens)
// A null list, a null element inside a list, a null string, a NaN/Inf value,
// unequal list lengths or a float64 beyond float32's range are rejected with
// error(parse) naming the 0-based row (counted across chunks). Other types:
// error(type_mismatch) naming the type's format string.
#pragma once

#include <stdint.h>

#include <chutoro/io.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The Arrow C data interface ABI (arrow.apache.org/docs/format/CDataInterface.html),
// declared under the guard every Arrow implementation uses.
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4
extern "C" {
struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;
  void (*release)(struct ArrowSchema*);
  void* private_data;
};
struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;
  void (*release)(struct ArrowArray*);
  void* private_data;
};
}
#endif

namespace chutoro {

/// One column read from Arrow data: either dense vectors or strings.
struct column_data {
  enum class kind : int { dense = 0, strings = 1 };
  kind type = kind::dense;
  std::string name;                  ///< the column's name
  dense_table dense;                 ///< type == dense: n x dim float32 (dense.columns is empty)
  std::vector<std::string> strings;  ///< type == strings: one item per row

  [[nodiscard]] std::size_t size() const noexcept { return type == kind::dense ? dense.n : strings.size(); }
};

/// Accumulates the chunks of one column (C data interface) into a column_data.
/// Not thread safe; reads the arrays, never releases or keeps them.
class arrow_column_builder {
 public:
  /// `what` starts every error message (e.g. the file name or "X"); messages
  /// number rows from `first_row` (the row of a file that the first appended
  /// row is, when only a part of the file is read).
  explicit arrow_column_builder(std::string what, std::size_t first_row = 0)
      : what_(std::move(what)), first_row_(first_row) {}

  /// Appends every row of `array` (whose type is `schema`). The first chunk fixes
  /// the kind and, for dense data, D; later chunks must agree (error type_mismatch).
  /// Throws as described at the top of this header. O(rows x D).
  void append(const ArrowSchema& schema, const ArrowArray& array);

  /// Rows appended so far.
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }

  /// The column. Throws error(parse) when no row was appended.
  column_data finish(std::string name = {}) &&;

 private:
  std::string what_;
  bool started_ = false;
  column_data out_;
  std::size_t rows_ = 0;
  std::size_t first_row_ = 0;
};

/// True when this build has the Parquet / Arrow IPC readers (CHUTORO_WITH_ARROW).
[[nodiscard]] bool arrow_files_supported() noexcept;

/// Reads one column of a Parquet file, with a column projection: only that
/// column's pages are read and decoded. `column` empty: the file must have
/// exactly one column. Throws error: io (missing/unreadable file), parse
/// (not Parquet, nulls, ...), invalid_argument (no such column, naming the
/// available ones), type_mismatch (unsupported column type), unsupported
/// (built without Arrow). Memory: the column once as Arrow data plus the result.
column_data read_parquet(const std::filesystem::path& path,
                         std::optional<std::string_view> column = std::nullopt);

/// Reads one column of an Arrow IPC file (Feather v2 / ".arrow", file format;
/// the stream format is accepted too). Same column rule and errors as read_parquet.
column_data read_arrow_ipc(const std::filesystem::path& path,
                           std::optional<std::string_view> column = std::nullopt);

/// One part of a columnar file's rows (read_parquet_part, read_arrow_ipc_part).
struct column_part {
  /// Rows [first_row, first_row + column.size()) of the file. Empty (size 0,
  /// kind dense) when the part holds no row (more parts than rows).
  column_data column;
  std::size_t first_row = 0;   ///< the file's row that is the column's row 0 (0-based)
  std::size_t total_rows = 0;  ///< rows in the whole file (from its metadata)
  /// The file's chunks (Parquet row groups, Arrow IPC record batches) and
  /// how many of them this part read (decoded its column from).
  std::size_t chunks_total = 0, chunks_read = 0;
};

/// Reads part `part` of `parts` of one column of a Parquet file, as
/// read_parquet does, without reading the other row groups: the part's rows
/// are [part * n / parts, (part + 1) * n / parts) (n the file's rows, from its
/// footer, as read_npy_part splits), and only the row groups that hold some
/// of them are read (their column chunk only), then cut to those rows. With
/// many row groups a part reads about n / parts rows plus at most one row
/// group at each end; a file of one row group is read by every part (each
/// keeps its rows). For a distributed run's ranks (docs/distributed.md).
/// Errors as read_parquet, naming rows by their index in the whole file;
/// error(invalid_argument) when part >= parts.
column_part read_parquet_part(const std::filesystem::path& path, std::optional<std::string_view> column,
                              std::size_t part, std::size_t parts);

/// The same for an Arrow IPC file (record batches instead of row groups; the
/// file is memory-mapped and every batch's length is read to place the
/// parts, which decodes nothing for uncompressed files; a compressed file's
/// column is decompressed batch by batch for that count). The stream
/// format, which has no index of its batches, is read whole and cut (it
/// counts as one chunk, read by every part).
column_part read_arrow_ipc_part(const std::filesystem::path& path, std::optional<std::string_view> column,
                                std::size_t part, std::size_t parts);

}  // namespace chutoro
