namespace HuatuoAspire.Model.Modules;

/// <summary>A job split into numbered parts that <see cref="WorkerPool"/> runs at once, one per thread.</summary>
internal interface IPartedJob
{
    void RunPart(int part);
}

/// <summary>
/// A few dedicated worker threads for <see cref="MatVec"/> and <see cref="MatMul"/>: the caller publishes a job, runs
/// part 0 itself and waits for the others. Workers spin briefly before sleeping (a decode step issues ~130 products
/// back to back, so the next job usually arrives within microseconds); no allocation per job (a job is a struct kept
/// in a static slot of its type, run through that type's one cached delegate).
/// </summary>
internal static unsafe class WorkerPool
{
    private static readonly object Gate = new();
    private static Worker[] _workers = [];

    public static void Run<TJob>(TJob job, int parts) where TJob : struct, IPartedJob
    {
        // One job at a time across the process: concurrent callers (two decoders) take turns rather than oversubscribing.
        lock (Gate)
        {
            if (_workers.Length < parts - 1)
            {
                var grown = new Worker[parts - 1];
                Array.Copy(_workers, grown, _workers.Length);
                for (var i = _workers.Length; i < grown.Length; i++) grown[i] = new Worker(i + 1);
                _workers = grown;
            }
            Slot<TJob>.Job = job;
            for (var i = 0; i < parts - 1; i++) _workers[i].Start(Slot<TJob>.RunPart);
            job.RunPart(0);
            for (var i = 0; i < parts - 1; i++) _workers[i].Wait();
        }
    }

    /// <summary>The job of type <typeparamref name="TJob"/> being run (written under the gate before the workers are woken).</summary>
    private static class Slot<TJob> where TJob : struct, IPartedJob
    {
        public static TJob Job;
        public static readonly Action<int> RunPart = part => Job.RunPart(part);
    }

    private sealed class Worker
    {
        private readonly int _part;
        private readonly ManualResetEventSlim _go = new(false, spinCount: 2000);
        private readonly ManualResetEventSlim _done = new(false, spinCount: 2000);
        private Action<int> _runPart = _ => { };
        private Exception? _error;

        public Worker(int part)
        {
            _part = part;
            var thread = new Thread(Loop) { IsBackground = true, Name = $"matvec-{part}" };
            thread.Start();
        }

        public void Start(Action<int> runPart)
        {
            _runPart = runPart;
            _done.Reset();
            _go.Set();
        }

        public void Wait()
        {
            _done.Wait();
            if (_error is { } e)
            {
                _error = null;
                throw new InvalidOperationException("A matrix-vector worker failed.", e);
            }
        }

        private void Loop()
        {
            while (true)
            {
                _go.Wait();
                _go.Reset();
                try
                {
                    _runPart(_part);
                }
                catch (Exception e)
                {
                    _error = e;
                }
                _done.Set();
            }
        }
    }
}
