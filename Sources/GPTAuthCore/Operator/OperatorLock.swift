/// Operator changes (the CLI) hold one lock so two of them never interleave; a second operator
/// waits a few seconds, then gets a clear "the store is locked" error.
public enum OperatorLock {
    public static func holding<T>(dataFolder: String, timeout: Double = 5, _ body: () throws -> T) throws -> T {
        let lock = try FileLock(path: dataFolder + "/locks/operator", timeout: timeout)
        defer { lock.release() }
        return try body()
    }

    /// Writes `config.json` (mode 0600) only if there is none yet; false if one exists.
    public static func writeConfiguration(_ configuration: Configuration, dataFolder: String) throws -> Bool {
        try FileIO.createExclusively(dataFolder + "/config.json", try JSON.encodePretty(configuration), sync: true)
    }

    /// Replaces `config.json` (mode 0600, atomically: a reader sees the old file or the new one).
    /// Hold the lock (`holding`) around the read and this write.
    public static func replaceConfiguration(_ configuration: Configuration, dataFolder: String) throws {
        try FileIO.writeAtomically(dataFolder + "/config.json", try JSON.encodePretty(configuration), sync: true)
    }
}
