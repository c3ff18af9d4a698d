import Foundation
import Testing
@testable import GPTAuthCore

/// Where an endpoint finds its data folder (GPTAUTH_DATA, else `.gptauth-data` beside the program)
/// and what it says when `config.json` cannot be read.
@Suite("Data folder location")
struct DataFolderLocationTests {
    @Test func theEnvironmentWins_thenThePointerFileBesideTheProgram() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let program = "\(folder)/greeting"
        #expect(DataFolderLocation.find(environment: nil, executable: program) == nil)
        #expect(DataFolderLocation.find(environment: nil, executable: nil) == nil)
        // (the file's text, the folder it names)
        let rows: [(String, String?)] = [
            ("/home/me/gptauth-data\n", "/home/me/gptauth-data"),
            ("/home/me/gptauth-data", "/home/me/gptauth-data"),
            ("  /home/me/with space/data \r\n# a second line is ignored\n", "/home/me/with space/data"),
            ("\n", nil),
            ("", nil),
        ]
        for (text, expected) in rows {
            try text.write(toFile: "\(folder)/.gptauth-data", atomically: true, encoding: .utf8)
            #expect(DataFolderLocation.find(environment: nil, executable: program) == expected, "\(text.debugDescription)")
            #expect(DataFolderLocation.find(environment: "/from/env", executable: program) == "/from/env")
            #expect(DataFolderLocation.find(environment: "", executable: program) == expected)
        }
        // Bounded: a "path" of 5,000 bytes is not read.
        try String(repeating: "x", count: 5_000).write(toFile: "\(folder)/.gptauth-data", atomically: true, encoding: .utf8)
        #expect(DataFolderLocation.find(environment: nil, executable: program) == nil)
    }

    @Test func anUnreadableConfigurationSaysWhy() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(DataFolderLocation.explainUnreadableConfiguration(dataFolder: "\(folder)/none")
                == "the data folder \(folder)/none does not exist; run `gptauth init --data \(folder)/none` first")
        #expect(DataFolderLocation.explainUnreadableConfiguration(dataFolder: folder)
                == "no configuration at \(folder)/config.json; run `gptauth init` first")
        #expect(throws: ConfigurationError.self) { try Configuration.load(dataFolder: "\(folder)/none") }
        // A file that exists but cannot be read needs another user than root: the e2e
        // CGIDataFolderTests run the program as `nobody`.
    }

    static func folder() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-location-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }
}
