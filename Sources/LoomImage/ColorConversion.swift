/// Pixel format conversions the codecs do not do themselves.
enum ColorConversion {
    /// Adobe writes CMYK JPEGs inverted (0 = full ink), which is what libjpeg hands back; with
    /// that convention the naive conversion is `R = C * K / 255`, as Pillow and browsers do.
    static func invertedCMYKToRGB(_ cmyk: UnsafeMutableRawBufferPointer, into rgb: UnsafeMutableRawBufferPointer, pixels: Int) {
        let source = cmyk.bindMemory(to: UInt8.self)
        let target = rgb.bindMemory(to: UInt8.self)
        for i in 0..<pixels {
            let k = UInt32(source[i * 4 + 3])
            for c in 0..<3 {
                target[i * 3 + c] = UInt8((UInt32(source[i * 4 + c]) * k + 127) / 255)
            }
        }
    }
}
