/// A rectangle of whole pixels in an image: what a region decode is asked for and what it decodes.
public struct PixelRect: Sendable, Equatable, CustomStringConvertible {
    public var left: Int
    public var top: Int
    public var width: Int
    public var height: Int

    public init(left: Int, top: Int, width: Int, height: Int) {
        self.left = left
        self.top = top
        self.width = width
        self.height = height
    }

    public var right: Int { left + width }
    public var bottom: Int { top + height }

    public var description: String { "\(width)x\(height) at (\(left), \(top))" }
}
