using Parquet;
using Parquet.Schema;

namespace Rose.Data;

/// <summary>Reads the string column "text" of a Parquet file across all its row groups
/// (the layout of Hugging Face dataset shards).</summary>
internal static class ParquetTextColumn
{
    public static IReadOnlyList<string> Read(string path) =>
        ReadAsync(path).GetAwaiter().GetResult();

    private static async Task<IReadOnlyList<string>> ReadAsync(string path)
    {
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(path).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not RoseException and not OutOfMemoryException)
        {
            throw new RoseException($"{path}: not a readable Parquet file: {OneLine(e.Message)}", e);
        }
        await using (reader.ConfigureAwait(false))
        {
            var fields = reader.Schema.GetDataFields();
            var text = fields.FirstOrDefault(f => f.Path.ToString() == "text");
            if (text is null)
            {
                var found = string.Join(", ", fields.Select(f => f.Path.ToString()));
                throw new RoseException($"{path}: no \"text\" column; columns found: {(found.Length == 0 ? "(none)" : found)}");
            }
            // Parquet.Net 6 reports UTF-8 string columns as ReadOnlyMemory<char>.
            bool isString = text.ClrType == typeof(string) || text.ClrType == typeof(ReadOnlyMemory<char>);
            if (!isString || text.IsArray)
                throw new RoseException($"{path}: column \"text\" holds {(text.IsArray ? "lists of " : "")}{TypeName(text.ClrType)}, expected strings");

            var documents = new List<string>();
            long rowBase = 0;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var values = new string?[checked((int)group.RowCount)];
                try
                {
                    await group.ReadAsync(text, values.AsMemory()).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not RoseException and not OutOfMemoryException)
                {
                    throw new RoseException($"{path}: cannot read column \"text\" of row group {g}: {OneLine(e.Message)}", e);
                }
                for (int r = 0; r < values.Length; r++)
                {
                    if (values[r] is null)
                        throw new RoseException($"{path}: row {rowBase + r}: \"text\" is null, expected a string");
                    documents.Add(values[r]!);
                }
                rowBase += values.Length;
            }
            return documents;
        }
    }

    private static string TypeName(Type type) =>
        type.IsGenericType ? $"{type.Name[..type.Name.IndexOf('`')]}<{string.Join(",", type.GetGenericArguments().Select(TypeName))}>" : type.Name;

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");
}
