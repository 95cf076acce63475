/// A table written as one Apache Parquet file: one row group, one PLAIN-encoded, uncompressed
/// data page (v1) per column, every column OPTIONAL (nulls as definition levels), plus the file's
/// key-value metadata. That is all a `metadata.parquet` beside an image folder needs, and what any
/// Parquet reader (pyarrow, `datasets`) reads; nothing here reads Parquet.
///
/// The footer is Thrift's compact protocol, written by hand for the few structs the format
/// needs (FileMetaData, SchemaElement, RowGroup, ColumnChunk, ColumnMetaData, PageHeader,
/// DataPageHeader, KeyValue), field ids as parquet.thrift numbers them.
public struct ParquetTable {
    public enum Column {
        case string([String?])
        case int64([Int64?])
        case double([Double?])

        var count: Int {
            switch self {
            case .string(let values): values.count
            case .int64(let values): values.count
            case .double(let values): values.count
            }
        }
    }

    public var columns: [(name: String, column: Column)] = []
    /// Key-value pairs of the footer (Hugging Face keeps a dataset's features under `huggingface`).
    public var metadata: [(key: String, value: String)] = []

    public init() {}

    /// The whole file.
    public func encoded() throws -> [UInt8] {
        let rows = columns.first?.column.count ?? 0
        guard columns.allSatisfy({ $0.column.count == rows }) else {
            throw DatasetError("parquet columns of different lengths", path: columns.map(\.name).joined(separator: ","))
        }
        var file: [UInt8] = Array("PAR1".utf8)
        var chunks: [(offset: Int, size: Int, type: Int32)] = []
        for (_, column) in columns {
            let (levels, values, type) = Self.page(column)
            var data: [UInt8] = []
            appendLittleEndian(UInt32(levels.count), to: &data)
            data += levels
            data += values
            var header = Compact()
            header.i32(1, 0)                    // type: DATA_PAGE
            header.i32(2, Int32(data.count))    // uncompressed_page_size
            header.i32(3, Int32(data.count))    // compressed_page_size
            header.beginStruct(5)               // data_page_header
            header.i32(1, Int32(rows))          // num_values
            header.i32(2, 0)                    // encoding: PLAIN
            header.i32(3, 3)                    // definition_level_encoding: RLE
            header.i32(4, 3)                    // repetition_level_encoding: RLE
            header.endStruct()
            header.stop()
            chunks.append((file.count, header.bytes.count + data.count, type))
            file += header.bytes
            file += data
        }

        var footer = Compact()
        footer.i32(1, 1)  // version
        footer.beginList(2, count: columns.count + 1)
        footer.beginElement()
        footer.string(4, "schema")
        footer.i32(5, Int32(columns.count))  // num_children
        footer.endElement()
        for (index, (name, column)) in columns.enumerated() {
            footer.beginElement()
            footer.i32(1, chunks[index].type)
            footer.i32(3, 1)  // repetition_type: OPTIONAL
            footer.string(4, name)
            if case .string = column { footer.i32(6, 0) }  // converted_type: UTF8
            footer.endElement()
        }
        footer.i64(3, Int64(rows))  // num_rows
        footer.beginList(4, count: 1)  // row_groups
        footer.beginElement()
        footer.beginList(1, count: columns.count)  // columns
        for (index, (name, _)) in columns.enumerated() {
            footer.beginElement()
            footer.i64(2, Int64(chunks[index].offset))  // file_offset
            footer.beginStruct(3)  // meta_data
            footer.i32(1, chunks[index].type)
            footer.listI32(2, [0, 3])  // encodings: PLAIN, RLE
            footer.listStrings(3, [name])  // path_in_schema
            footer.i32(4, 0)  // codec: UNCOMPRESSED
            footer.i64(5, Int64(rows))  // num_values
            footer.i64(6, Int64(chunks[index].size))  // total_uncompressed_size
            footer.i64(7, Int64(chunks[index].size))  // total_compressed_size
            footer.i64(9, Int64(chunks[index].offset))  // data_page_offset
            footer.endStruct()
            footer.endElement()
        }
        footer.i64(2, Int64(chunks.reduce(0) { $0 + $1.size }))  // total_byte_size
        footer.i64(3, Int64(rows))  // num_rows
        footer.endElement()
        if !metadata.isEmpty {
            footer.beginList(5, count: metadata.count)  // key_value_metadata
            for (key, value) in metadata {
                footer.beginElement()
                footer.string(1, key)
                footer.string(2, value)
                footer.endElement()
            }
        }
        footer.string(6, "loom")  // created_by
        footer.stop()
        file += footer.bytes
        appendLittleEndian(UInt32(footer.bytes.count), to: &file)
        file += Array("PAR1".utf8)
        return file
    }

    /// A column's definition levels (RLE runs, bit width 1), its PLAIN values and its physical type.
    private static func page(_ column: Column) -> (levels: [UInt8], values: [UInt8], type: Int32) {
        var present: [Bool] = []
        var values: [UInt8] = []
        let type: Int32
        switch column {
        case .string(let strings):
            type = 6  // BYTE_ARRAY
            for string in strings {
                present.append(string != nil)
                guard let string else { continue }
                appendLittleEndian(UInt32(string.utf8.count), to: &values)
                values += string.utf8
            }
        case .int64(let numbers):
            type = 2  // INT64
            for number in numbers {
                present.append(number != nil)
                if let number { appendLittleEndian(UInt64(bitPattern: number), to: &values) }
            }
        case .double(let numbers):
            type = 5  // DOUBLE
            for number in numbers {
                present.append(number != nil)
                if let number { appendLittleEndian(number.bitPattern, to: &values) }
            }
        }
        var levels: [UInt8] = []
        var index = 0
        while index < present.count {
            var end = index
            while end < present.count && present[end] == present[index] { end += 1 }
            Compact.varint(UInt64(end - index) << 1, to: &levels)  // an RLE run: count << 1, then the value
            levels.append(present[index] ? 1 : 0)
            index = end
        }
        return (levels, values, type)
    }

    /// Thrift's compact protocol, writing only: field headers carry the id delta from the last
    /// field of the same struct, so nested structs keep a stack of last ids.
    struct Compact {
        var bytes: [UInt8] = []
        private var lastID: [Int16] = [0]

        static func varint(_ value: UInt64, to bytes: inout [UInt8]) {
            var value = value
            while value >= 0x80 {
                bytes.append(UInt8(value & 0x7F) | 0x80)
                value >>= 7
            }
            bytes.append(UInt8(value))
        }

        private mutating func field(_ id: Int16, _ type: UInt8) {
            let delta = id - lastID[lastID.count - 1]
            if delta > 0 && delta <= 15 {
                bytes.append(UInt8(delta) << 4 | type)
            } else {
                bytes.append(type)
                Self.varint(UInt64(bitPattern: Int64((id << 1) ^ (id >> 15))), to: &bytes)
            }
            lastID[lastID.count - 1] = id
        }

        private mutating func zigzag(_ value: Int64) { Self.varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)), to: &bytes) }

        mutating func i32(_ id: Int16, _ value: Int32) {
            field(id, 5)
            zigzag(Int64(value))
        }

        mutating func i64(_ id: Int16, _ value: Int64) {
            field(id, 6)
            zigzag(value)
        }

        mutating func string(_ id: Int16, _ value: String) {
            field(id, 8)
            Self.varint(UInt64(value.utf8.count), to: &bytes)
            bytes += value.utf8
        }

        private mutating func listHeader(_ count: Int, _ type: UInt8) {
            if count < 15 {
                bytes.append(UInt8(count) << 4 | type)
            } else {
                bytes.append(0xF0 | type)
                Self.varint(UInt64(count), to: &bytes)
            }
        }

        /// A list of structs; each element is written between ``beginElement()`` and ``endElement()``.
        mutating func beginList(_ id: Int16, count: Int) {
            field(id, 9)
            listHeader(count, 12)
        }

        mutating func listI32(_ id: Int16, _ values: [Int32]) {
            field(id, 9)
            listHeader(values.count, 5)
            for value in values { zigzag(Int64(value)) }
        }

        mutating func listStrings(_ id: Int16, _ values: [String]) {
            field(id, 9)
            listHeader(values.count, 8)
            for value in values {
                Self.varint(UInt64(value.utf8.count), to: &bytes)
                bytes += value.utf8
            }
        }

        mutating func beginElement() { lastID.append(0) }

        mutating func endElement() {
            bytes.append(0)
            lastID.removeLast()
        }

        mutating func beginStruct(_ id: Int16) {
            field(id, 12)
            lastID.append(0)
        }

        mutating func endStruct() { endElement() }

        mutating func stop() { bytes.append(0) }
    }
}

private func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
}
