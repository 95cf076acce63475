import ArgumentParser
import LoomLoader
import LoomStore

struct OrderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order",
        abstract: "Print the digests in the order a rank receives them in an epoch (the sampler, exposed).")

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: SelectionOptions
    @OptionGroup var sampler: SamplerOptions

    struct Line: Encodable { var position: Int; var digest: String; var label: Int32 }

    func run() throws {
        try sampler.config.validate()
        let store = try options.openReadOnly()
        let table = try SampleTable.load(store, selection: try selection.resolve())
        let plan = EpochPlan(table: table, config: sampler.config, epoch: sampler.epoch)
        let encoder = Output.lineEncoder()
        var text = ""
        text.reserveCapacity(plan.order.count * 65)
        for (position, sample) in plan.order.enumerated() {
            let index = Int(sample)
            if options.json {
                try Output.jsonLine(Line(position: position, digest: table.locations[index].digest.hex, label: table.labels[index]),
                                    encoder: encoder)
            } else {
                text += table.locations[index].digest.hex + "\n"
            }
        }
        if !options.json { Output.write(text) }
    }
}
