#ifndef LOOM_JPEG_REGION_H
#define LOOM_JPEG_REGION_H

#include <stddef.h>

/// A libjpeg (libjpeg-turbo's jpeglib API) decompressor that decodes one rectangle of a JPEG:
/// rows above it are skipped (entropy-decoded only: no inverse DCT, upsampling or colour
/// conversion), columns outside it are cropped (jpeg_crop_scanline), and decoding stops at its
/// last row. TurboJPEG 2.1, the version Debian 12 ships, has no cropped decode; tj3 in 3.0 does.
///
/// One per thread; reused across images (the decompressor's permanent memory stays allocated).
typedef struct loom_jpeg_region loom_jpeg_region;

loom_jpeg_region *loom_jpeg_region_create(void);
void loom_jpeg_region_destroy(loom_jpeg_region *decoder);

enum {
  LOOM_JPEG_REGION_OK = 0,
  /// Corrupt or truncated data, a libjpeg warning (treated as an error, as TurboJPEG's
  /// TJFLAG_STOPONWARNING does) or a progressive scan-count bomb; the message says which.
  LOOM_JPEG_REGION_CORRUPT = 1,
  /// A CMYK or YCCK image: libjpeg cannot convert it to RGB, the caller decodes it whole.
  LOOM_JPEG_REGION_CMYK = 2,
  /// The rectangle lies outside the scaled image or the destination is too small.
  LOOM_JPEG_REGION_BAD_REQUEST = 3,
};

/// Decodes rows `top ..< top + height` and at least columns `left ..< left + width` of the image
/// scaled by `scale_num / scale_denom`, as packed RGB, into `destination` (`capacity` bytes).
///
/// libjpeg starts a crop on an iMCU boundary, so the decoded columns are
/// `*decoded_left ..< *decoded_left + *decoded_width` (`*decoded_left <= left`, covering the
/// request), rows `*decoded_width * 3` bytes apart. `capacity` of
/// `(width + 32) * height * 3` always suffices (an iMCU is at most 32 pixels wide).
int loom_jpeg_region_decode(loom_jpeg_region *decoder, const unsigned char *data, size_t size,
                            int scale_num, int scale_denom, int left, int top, int width, int height,
                            unsigned char *destination, size_t capacity, int *decoded_left, int *decoded_width);

/// The message of the last failure (empty after a success).
const char *loom_jpeg_region_message(const loom_jpeg_region *decoder);

#endif
