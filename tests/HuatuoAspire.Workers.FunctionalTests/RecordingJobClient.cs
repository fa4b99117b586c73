using System.Collections.Concurrent;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;

namespace HuatuoAspire.Workers.FunctionalTests;

/// <summary>Records the jobs a run enqueues, so a test can run them itself (or not) in any order.</summary>
internal sealed class RecordingJobClient : IBackgroundJobClient
{
    public ConcurrentQueue<Job> Jobs { get; } = new();
    public string Create(Job job, IState state) { Jobs.Enqueue(job); return Jobs.Count.ToString(); }
    public bool ChangeState(string jobId, IState state, string expectedState) => true;
}
