import LoomStore

extension LoaderError: CodedError {
    public var errorCode: LoomErrorCode { code.errorCode }
}
