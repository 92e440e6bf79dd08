using System.CommandLine;
using Rose.Pruning;

namespace Rose.Cli;

/// <summary>`--device auto|cpu|cuda`: auto takes CUDA when it is usable, else the CPU with a one-line notice.</summary>
public static class DeviceOption
{
    public static Option<string> Create() => new("--device")
    {
        Description = "auto | cpu | cuda | cuda:N (auto: CUDA device 0 when usable, else the CPU with a notice naming why; cuda:N picks GPU N)",
        DefaultValueFactory = _ => "auto",
    };

    public static IPruningBackend Backend(ParseResult parse, Option<string> option) =>
        BackendFactory.Create(parse.GetValue(option)!, notice => Console.Error.WriteLine(notice));
}
