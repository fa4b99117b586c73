using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace HuatuoAspire.Data.Migrations
{
    /// <inheritdoc />
    public partial class EvaluationResultDetails : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "PipelineRunId",
                table: "EvaluationRuns",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "Error",
                table: "EvaluationResults",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "ExtractionRule",
                table: "EvaluationResults",
                type: "character varying(32)",
                maxLength: 32,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_EvaluationRuns_PipelineRunId_Benchmark",
                table: "EvaluationRuns",
                columns: new[] { "PipelineRunId", "Benchmark" },
                unique: true);

            migrationBuilder.AddForeignKey(
                name: "FK_EvaluationRuns_PipelineRuns_PipelineRunId",
                table: "EvaluationRuns",
                column: "PipelineRunId",
                principalTable: "PipelineRuns",
                principalColumn: "Id",
                onDelete: ReferentialAction.Cascade);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "FK_EvaluationRuns_PipelineRuns_PipelineRunId",
                table: "EvaluationRuns");

            migrationBuilder.DropIndex(
                name: "IX_EvaluationRuns_PipelineRunId_Benchmark",
                table: "EvaluationRuns");

            migrationBuilder.DropColumn(
                name: "PipelineRunId",
                table: "EvaluationRuns");

            migrationBuilder.DropColumn(
                name: "Error",
                table: "EvaluationResults");

            migrationBuilder.DropColumn(
                name: "ExtractionRule",
                table: "EvaluationResults");
        }
    }
}
