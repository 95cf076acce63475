/// `loom --version`, and the version tools/package gives the .deb and the tarball (it reads this
/// line). Raised when a release changes what users see: commands, flags, formats.
enum LoomVersion {
    static let string = "0.7.0"
}
