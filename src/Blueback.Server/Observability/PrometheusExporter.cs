using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Blueback.Server.Observability;

/// <summary>Writes the server's meter in the Prometheus text format (no exporter package is available here):
/// a MeterListener keeps the running sum of each counter per tag set and the last value of each gauge.</summary>
public sealed class PrometheusExporter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(Instrument Instrument, string Labels), long> _values = new();
    private readonly Lock _collect = new();

    public PrometheusExporter()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == ServerMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
    }

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        var key = (instrument, Labels(tags));
        if (instrument is Counter<long>)
        {
            _values.AddOrUpdate(key, value, (_, old) => old + value);
        }
        else
        {
            _values[key] = value; // observable counters report totals; gauges report the current value
        }
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0)
        {
            return "";
        }
        var sb = new StringBuilder("{");
        for (int i = 0; i < tags.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }
            var v = Convert.ToString(tags[i].Value, CultureInfo.InvariantCulture) ?? "";
            sb.Append(tags[i].Key).Append("=\"").Append(v.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('"');
        }
        return sb.Append('}').ToString();
    }

    public string Collect()
    {
        lock (_collect)
        {
            _listener.RecordObservableInstruments();
            var sb = new StringBuilder();
            foreach (var group in _values.GroupBy(kv => kv.Key.Instrument).OrderBy(g => g.Key.Name, StringComparer.Ordinal))
            {
                var inst = group.Key;
                bool counter = inst is Counter<long> or ObservableCounter<long>;
                var name = inst.Name + (counter ? "_total" : "");
                if (inst.Description is { Length: > 0 } d)
                {
                    sb.Append("# HELP ").Append(name).Append(' ').Append(d).Append('\n');
                }
                sb.Append("# TYPE ").Append(name).Append(counter ? " counter\n" : " gauge\n");
                foreach (var kv in group.OrderBy(kv => kv.Key.Labels, StringComparer.Ordinal))
                {
                    sb.Append(name).Append(kv.Key.Labels).Append(' ').Append(kv.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
                }
            }
            return sb.ToString();
        }
    }

    public void Dispose() => _listener.Dispose();
}
