/// The crop box and flip the loader chose for one sample, so that another pipeline (torchvision's
/// `F.resized_crop(img, top, left, height, width, size)`) can be fed exactly the same geometry.
///
/// `top`, `left`, `height`, `width` are in the pixels of the original image (`image_width` x
/// `image_height`). For a training sample read from the original they are the integers
/// RandomResizedCrop drew; with `from: "pixel-cache"` the crop was drawn on, and cut from, the
/// cached evaluation resize (``cache`` gives that box in cache pixels) and the original box is
/// its fractional image. For evaluation the box is the whole image and ``resize`` says where the
/// centre crop lies in the resized image.
public struct CropChoice: Sendable, Equatable, Codable {
    public var top: Double
    public var left: Double
    public var height: Double
    public var width: Double
    public var flip: Bool
    public var from: Source
    public var imageWidth: Int
    public var imageHeight: Int
    public var cache: CacheBox?
    public var resize: Resize?

    public enum Source: String, Sendable, Codable {
        /// Decoded from the stored image.
        case original
        /// Cut from the pixel cache's evaluation resize (short side `size / 0.875`), which has
        /// fewer pixels than the original: small crops are upsampled from fewer pixels than
        /// torchvision would use (FFCV's `max_resolution` makes the same trade).
        case pixelCache = "pixel-cache"
    }

    /// The box in the cached image's pixels.
    public struct CacheBox: Sendable, Equatable, Codable {
        public var imageWidth: Int
        public var imageHeight: Int
        public var top: Int
        public var left: Int
        public var height: Int
        public var width: Int

        enum CodingKeys: String, CodingKey {
            case top, left, height, width
            case imageWidth = "image_width"
            case imageHeight = "image_height"
        }
    }

    /// Evaluation: the image resized to `width x height`, then the output window at `left`, `top`.
    public struct Resize: Sendable, Equatable, Codable {
        public var width: Int
        public var height: Int
        public var left: Int
        public var top: Int
    }

    enum CodingKeys: String, CodingKey {
        case top, left, height, width, flip, from, cache, resize
        case imageWidth = "image_width"
        case imageHeight = "image_height"
    }
}

extension CropPlan {
    /// This plan, drawn on a `width x height` image, as a choice in that image's own pixels.
    func choice(width: Int, height: Int, augment: Augment) -> CropChoice {
        CropChoice(
            top: region.y, left: region.x, height: region.height, width: region.width, flip: flip, from: .original,
            imageWidth: width, imageHeight: height, cache: nil,
            resize: augment == .eval ? .init(width: virtualWidth, height: virtualHeight, left: windowX, top: windowY) : nil)
    }
}
