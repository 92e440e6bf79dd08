namespace Rose;

/// <summary>A step of long work: what is running and how far along it is.</summary>
public readonly record struct ProgressUpdate(string Stage, long Done, long Total);
