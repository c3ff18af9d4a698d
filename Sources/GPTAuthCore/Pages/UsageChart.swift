/// Calls per UTC day as a bar chart: server-rendered SVG inside the page (no script, no request of
/// its own), with the figures as the chart's text alternative and a table-free summary, so it reads
/// in print, without JavaScript and to a screen reader.
public struct UsageChart: Sendable, Equatable {
    /// Oldest first.
    public var days: [(day: String, calls: Int)]

    public init(days: [(day: String, calls: Int)]) { self.days = days }

    public static func == (a: UsageChart, b: UsageChart) -> Bool {
        a.days.map(\.day) == b.days.map(\.day) && a.days.map(\.calls) == b.days.map(\.calls)
    }

    /// The last `count` UTC days up to `now`'s, from per-day counts (`UsageCounter.history`, summed).
    public static func lastDays(_ count: Int, now: UnixTime, history: [String: Int]) -> UsageChart {
        UsageChart(days: (0..<count).reversed().map { back in
            let day = UTCDay(now - Int64(back) * 86_400).text
            return (day, history[day] ?? 0)
        })
    }

    public var total: Int { days.reduce(0) { $0 + $1.calls } }

    public var svg: HTML {
        let width = 720, height = 160, left = 44, bottom = 24, top = 8
        let peak = max(1, days.map(\.calls).max() ?? 0)
        let slot = Double(width - left) / Double(max(1, days.count))
        let label = "Calls per day, \(days.first?.day ?? "") to \(days.last?.day ?? ""): \(total) in all, at most \(peak) in a day."
        var bars: HTML = ""
        for (index, entry) in days.enumerated() {
            let barHeight = Int((Double(entry.calls) / Double(peak) * Double(height - bottom - top)).rounded())
            let x = left + Int(Double(index) * slot) + 1
            let y = height - bottom - barHeight
            bars = "\(bars)<rect x=\"\(x)\" y=\"\(y)\" width=\"\(max(1, Int(slot) - 2))\" height=\"\(barHeight)\"><title>\(entry.day): \(entry.calls) calls</title></rect>"
        }
        let first = days.first?.day ?? "", last = days.last?.day ?? ""
        return """
        <svg class="chart" viewBox="0 0 \(width) \(height)" role="img" aria-label="\(label)" xmlns="http://www.w3.org/2000/svg">
        <line x1="\(left)" y1="\(height - bottom)" x2="\(width)" y2="\(height - bottom)" stroke="#999"/>
        <text x="\(left - 6)" y="\(top + 10)" text-anchor="end" font-size="11">\(peak)</text>
        <text x="\(left - 6)" y="\(height - bottom)" text-anchor="end" font-size="11">0</text>
        <text x="\(left)" y="\(height - 6)" font-size="11">\(first)</text>
        <text x="\(width)" y="\(height - 6)" text-anchor="end" font-size="11">\(last)</text>
        <g fill="#3b5bdb">\(bars)</g>
        </svg>
        """
    }
}
