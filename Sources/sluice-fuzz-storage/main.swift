// The libFuzzer harness for the commit log's record decoder and recovery scanner (issue 11).
//
// SLUICE_FUZZ_TARGET picks the target: `record` (default) feeds the input to the record decoder
// three ways (as found, past the checks, sealed so the checks pass); `recovery` writes it as the
// only segment of a data folder (first byte: flags, 1 = unclean stop, 2 = a checkpoint whose
// length is the second byte follows) and opens the log, reading back every indexed record;
// `mqtt` feeds it to the MQTT packet decoder as a client's byte stream, and checks that every
// packet it accepts encodes back to a packet that decodes the same (issue 16 item 5); `http`
// feeds the HTTP access front's parsers what a client controls (`fuzzHTTP`).
//
// Built with `-sanitize=fuzzer -D SLUICE_LIBFUZZER` (`make fuzz-libfuzzer`, scratch path
// .build-fuzz) this is a libFuzzer binary taking libFuzzer's flags and corpus folders. A plain
// build replays the files and folders given as arguments once each, as a regression run.
import Foundation
import SluiceHTTPWire
import SluiceMQTTWire
@_spi(Fuzzing) import SluiceStorage

let target = ProcessInfo.processInfo.environment["SLUICE_FUZZ_TARGET"] ?? "record"
let scratch = (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/sluice-fuzz-storage-\(getpid())"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    switch target {
    case "recovery":
        guard let flags = bytes.first else { return 0 }
        var rest = Array(bytes.dropFirst())
        var checkpoint: [UInt8]?
        if flags & 2 != 0, let length = rest.first {
            checkpoint = Array(rest.dropFirst().prefix(Int(length)))
            rest = Array(rest.dropFirst(1 + Int(length)))
        }
        _ = StorageFuzzing.recover(directory: scratch, segment: rest, checkpoint: checkpoint, unclean: flags & 1 != 0)
    case "mqtt":
        fuzzMQTT(Array(bytes))
    case "http":
        fuzzHTTP(Array(bytes))
    default:
        _ = StorageFuzzing.decode(bytes)
    }
    return 0
}

/// Decodes packets from the stream until it needs more bytes or refuses one (a refusal is the
/// expected answer to most inputs); a trap, or a round trip that changes a packet, is a finding.
/// A CONNECT at level 5 switches the rest of the stream to MQTT 5, as on a connection.
func fuzzMQTT(_ bytes: [UInt8]) {
    var decoder = MQTTFrameDecoder(maxPacketBytes: 64 * 1024)
    var rest = bytes[...]
    while true {
        let decoded: (packet: MQTTPacket, consumed: Int)?
        do throws(MQTTWireError) {
            decoded = try decoder.next(Array(rest))
        } catch {
            return
        }
        guard let decoded, decoded.consumed > 0 else { return }
        let again = try? decoder.decode(decoded.packet.encode(version: decoder.version))
        precondition(again?.packet == decoded.packet, "MQTT round trip changed \(decoded.packet)")
        rest = rest.dropFirst(decoded.consumed)
    }
}

/// The first byte picks what a client of the HTTP access front controls; the rest is that input.
/// A refusal is the expected answer to most inputs; a trap, a parse that breaks its own limits,
/// or a properties text that does not survive formatting and parsing again is a finding.
func fuzzHTTP(_ bytes: [UInt8]) {
    guard let selector = bytes.first else { return }
    let input = bytes.dropFirst()
    let text = String(decoding: input, as: UTF8.self)
    switch selector % 6 {
    case 0:
        // A publish document, with a body limit small enough for the fuzzer to cross.
        if let message = try? PublishRequestBody.parse(input, maxBodyBytes: 256) {
            precondition(message.body.utf8.count <= 256, "a publish body past its limit was accepted")
            _ = try? MessageProperties.parse(message.properties)
        }
    case 1:
        if let handles = try? ReceiptHandlesBody.parse(input) {
            precondition(!handles.isEmpty && handles.count <= ReceiptHandlesBody.maxHandles, "\(handles.count) handles")
            precondition(handles.allSatisfy { $0.utf8.count <= ReceiptHandlesBody.maxHandleBytes }, "a handle past its limit")
        }
    case 2:
        guard let pairs = try? MessageProperties.parse(text) else { return }
        precondition(pairs.count <= MessageProperties.maxCount, "\(pairs.count) properties")
        let again = try? MessageProperties.parse(MessageProperties.format(pairs))
        precondition(
            again.map { $0.map(\.name) == pairs.map(\.name) && $0.map(\.value) == pairs.map(\.value) } == true,
            "properties changed through format and parse: \(pairs)")
    case 3:
        _ = try? RequestSignature.parse(authorization: text)
    case 4:
        _ = HTTPDate.epochSeconds(text)
    default:
        // Any document at the reader's default limits.
        _ = try? XMLReader.parse(input)
    }
}

#if SLUICE_LIBFUZZER
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(runDriver(&argc, &argv, fuzzOne))
#else
var files: [String] = []
for argument in CommandLine.arguments.dropFirst() {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
        FileHandle.standardError.write(Data("sluice-fuzz-storage: no such file or folder: \(argument)\n".utf8))
        exit(2)
    }
    if isDirectory.boolValue {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
        files += names.sorted().map { argument + "/" + $0 }
    } else {
        files.append(argument)
    }
}
for file in files {
    let bytes = [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data())
    _ = bytes.withUnsafeBufferPointer { fuzzOne($0.baseAddress, $0.count) }
}
print("sluice-fuzz-storage: \(target): replayed \(files.count) inputs without a crash")
#endif
