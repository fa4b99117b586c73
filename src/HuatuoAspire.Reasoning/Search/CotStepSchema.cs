using HuatuoAspire.Reasoning.Llm;

namespace HuatuoAspire.Reasoning.Search;

/// <summary>The JSON schema the search asks the LLM to follow for a chain of <see cref="Domain.Search.CotStep"/>s.</summary>
public static class CotStepSchema
{
    public static readonly JsonSchemaFormat Format = new("chain_of_thought", """
        {"type":"object","properties":{"CoT":{"type":"array","items":{"type":"object","properties":{
          "action":{"type":"string","enum":["Inner Thinking","Final Conclusion","Verification"]},
          "title":{"type":"string"},"content":{"type":"string"}},
          "required":["action","title","content"],"additionalProperties":false}}},
         "required":["CoT"],"additionalProperties":false}
        """);
}
