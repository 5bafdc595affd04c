using System.Text;
using System.Threading.Channels;
using Serilog.Core;
using Serilog.Debugging;
using Serilog.Events;
using Serilog.Formatting;

namespace Provisioner.Observability;

/// <summary>
/// Writes log events to standard output from one background thread, many lines per write. The request log line
/// (one per request) through Serilog's console sink costs a lock and a write system call on the request's thread;
/// in a boot storm that was most of a request's CPU time, and requests queued on the lock. Here a request only
/// enqueues the event; the writer formats what has queued up and writes it in one go, flushing whenever the queue is
/// empty, so a quiet server's lines still appear at once. Nothing is dropped: when the queue is full (the output cannot
/// keep up), logging blocks as the console sink did. Used when standard output is not a terminal (systemd's journal, a
/// file, a pipe); a terminal keeps the colored console sink.
/// </summary>
internal sealed class BatchingConsoleSink : ILogEventSink, IDisposable
{
    private const int Capacity = 65_536;

    private readonly Channel<LogEvent> _queue = Channel.CreateBounded<LogEvent>(new BoundedChannelOptions(Capacity)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });
    private readonly ITextFormatter _formatter;
    private readonly TextWriter _output;
    private readonly Thread _writer;

    public BatchingConsoleSink(ITextFormatter formatter, Stream? output = null)
    {
        _formatter = formatter;
        _output = new StreamWriter(output ?? Console.OpenStandardOutput(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), 64 * 1024) { AutoFlush = false };
        _writer = new Thread(Write) { IsBackground = true, Name = "log writer" };
        _writer.Start();
    }

    public void Emit(LogEvent logEvent)
    {
        if (_queue.Writer.TryWrite(logEvent)) return;
        // Full: wait for room, as a synchronous sink would have waited for the write (completed: disposed, drop).
        try { _queue.Writer.WriteAsync(logEvent).AsTask().GetAwaiter().GetResult(); }
        catch (ChannelClosedException) { }
    }

    private void Write()
    {
        var reader = _queue.Reader;
        while (true)
        {
            try
            {
                if (!reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult()) break;
                while (reader.TryRead(out var logEvent)) _formatter.Format(logEvent, _output);
                _output.Flush();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or FormatException)
            {
                // Standard output is gone or an event cannot be formatted: there is nowhere left to log this but SelfLog.
                SelfLog.WriteLine("Writing log events to standard output failed: {0}", e);
            }
        }
        try { _output.Flush(); }
        catch (IOException) { }
    }

    /// <summary>Writes what is queued, then stops (the logger is disposed when the host shuts down).</summary>
    public void Dispose()
    {
        if (!_queue.Writer.TryComplete()) return;
        _writer.Join(TimeSpan.FromSeconds(5));
    }
}
